package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// turnALPN is the ALPN id of TURN over TLS (RFC 7443). Browsers send none for turns: URLs; a
// client that names it is taken for TURN without looking at its first bytes.
const turnALPN = "stun.turn"

// tlsMux shares one TLS port between HTTPS and TURN over TLS: it completes each handshake, then
// hands the connection to TURN when the client asked for TURN by ALPN or, without ALPN, when its
// first byte starts a STUN message (the two top bits zero; an HTTP request starts with a letter).
type tlsMux struct {
	raw     net.Listener
	cfg     *tls.Config
	timeout time.Duration
	http    *chanListener
	turn    *chanListener
}

func newTLSMux(raw net.Listener, cfg *tls.Config, handshakeTimeout time.Duration) *tlsMux {
	cfg = cfg.Clone()
	cfg.NextProtos = append(cfg.NextProtos, turnALPN)
	m := &tlsMux{raw: raw, cfg: cfg, timeout: handshakeTimeout}
	m.http = newChanListener(raw.Addr(), raw.Close)
	m.turn = newChanListener(raw.Addr(), nil)
	go m.run()
	return m
}

func (m *tlsMux) run() {
	for {
		c, err := m.raw.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.http.fail(err)
			m.turn.fail(err)
			return
		}
		go m.dispatch(c)
	}
}

// dispatch runs one connection's handshake and first read, each bounded by the timeout.
func (m *tlsMux) dispatch(c net.Conn) {
	tc := tls.Server(c, m.cfg)
	_ = tc.SetDeadline(time.Now().Add(m.timeout))
	if err := tc.Handshake(); err != nil {
		_ = tc.Close()
		return
	}
	switch tc.ConnectionState().NegotiatedProtocol {
	case turnALPN:
		_ = tc.SetDeadline(time.Time{})
		m.turn.deliver(tc)
		return
	case "":
	default:
		// http/1.1, or an ACME TLS-ALPN-01 check, which ends with the handshake.
		_ = tc.SetDeadline(time.Time{})
		m.http.deliver(tc)
		return
	}
	br := bufio.NewReader(tc)
	first, err := br.Peek(1)
	if err != nil {
		_ = tc.Close()
		return
	}
	_ = tc.SetDeadline(time.Time{})
	pc := &peekedConn{Conn: tc, r: br}
	if first[0] < 0x40 {
		m.turn.deliver(pc)
		return
	}
	m.http.deliver(pc)
}

// peekedConn is a TLS connection whose first bytes were read ahead.
type peekedConn struct {
	*tls.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

type tlsStateKey struct{}

// connTLSState keeps a peeked connection's TLS state in its requests' context: net/http sets
// Request.TLS only for a *tls.Conn.
func connTLSState(ctx context.Context, c net.Conn) context.Context {
	if p, ok := c.(*peekedConn); ok {
		st := p.ConnectionState()
		return context.WithValue(ctx, tlsStateKey{}, &st)
	}
	return ctx
}

// withTLSState fills Request.TLS from connTLSState, so that HSTS and wss URLs see HTTPS.
func withTLSState(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
				r.TLS = st
			}
		}
		h.ServeHTTP(w, r)
	})
}

// chanListener is a net.Listener fed by the dispatcher.
type chanListener struct {
	addr    net.Addr
	onClose func() error
	conns   chan net.Conn

	once   sync.Once
	done   chan struct{}
	mu     sync.Mutex
	failed error
}

func newChanListener(addr net.Addr, onClose func() error) *chanListener {
	return &chanListener{addr: addr, onClose: onClose, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *chanListener) fail(err error) {
	l.mu.Lock()
	l.failed = err
	l.mu.Unlock()
	_ = l.Close()
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.failed != nil {
			return nil, l.failed
		}
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		if l.onClose != nil {
			err = l.onClose()
		}
	})
	return err
}

func (l *chanListener) Addr() net.Addr { return l.addr }
