package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

func testTLSConfig(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hop.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: []string{"http/1.1"}}
}

func startMux(t *testing.T, timeout time.Duration) *tlsMux {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newTLSMux(raw, testTLSConfig(t), timeout)
	t.Cleanup(func() { _ = m.http.Close(); _ = m.turn.Close() })
	return m
}

// accept runs Accept on l and hands the result over.
func accept(l net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

func dial(t *testing.T, m *tlsMux, protos ...string) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", m.raw.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: protos}) // #nosec G402 -- the test's own certificate
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func readFirst(t *testing.T, ch <-chan net.Conn, n int) (net.Conn, []byte) {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("listener closed")
		}
		b := make([]byte, n)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatal(err)
		}
		return c, b
	case <-time.After(10 * time.Second):
		t.Fatal("no connection dispatched")
	}
	return nil, nil
}

// Connections go where their ALPN or first byte says, with nothing of the first bytes lost.
func TestTLSMuxDispatch(t *testing.T) {
	m := startMux(t, 5*time.Second)
	stun := []byte{0x00, 0x03, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42}

	turnCh := accept(m.turn)
	_, _ = dial(t, m).Write(stun)
	if _, b := readFirst(t, turnCh, len(stun)); string(b) != string(stun) {
		t.Errorf("TURN got %x", b)
	}

	httpCh := accept(m.http)
	_, _ = dial(t, m).Write([]byte("GET / HTTP/1.1\r\n"))
	c, b := readFirst(t, httpCh, 4)
	if string(b) != "GET " {
		t.Errorf("HTTP got %q", b)
	}
	if _, ok := c.(*peekedConn); !ok {
		t.Errorf("a peeked HTTP connection is a %T", c)
	}

	turnCh = accept(m.turn)
	_, _ = dial(t, m, turnALPN).Write(stun)
	readFirst(t, turnCh, len(stun))

	// With ALPN http/1.1 HTTP gets the TLS connection itself (net/http then sets Request.TLS).
	httpCh = accept(m.http)
	_, _ = dial(t, m, "http/1.1").Write([]byte("GET / HTTP/1.1\r\n"))
	if c, _ := readFirst(t, httpCh, 4); c != nil {
		if _, ok := c.(*tls.Conn); !ok {
			t.Errorf("an ALPN HTTP connection is a %T", c)
		}
	}
}

// A client that never completes its handshake, or sends nothing after it, is closed.
func TestTLSMuxClosesSilentClients(t *testing.T) {
	m := startMux(t, 300*time.Millisecond)
	raw, err := net.Dial("tcp", m.raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(raw); err != nil {
		t.Errorf("no handshake: %v, want the server to close", err)
	}
	c := dial(t, m)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("silent after the handshake: %v, want the server to close", err)
	}
}

// Closing the HTTP side (the server's shutdown) closes the port and ends TURN's accepting too.
func TestTLSMuxClose(t *testing.T) {
	m := startMux(t, time.Second)
	turnCh := accept(m.turn)
	if err := m.http.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-turnCh:
		if ok {
			t.Error("TURN accepted a connection after close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("TURN's Accept still waits after the port closed")
	}
	if _, err := net.Dial("tcp", m.raw.Addr().String()); err == nil {
		t.Error("the port still accepts connections")
	}
}
