// Package srtpin receives publishers' RTP without pion's read stack. pion hands a packet read from
// the UDP socket through five goroutines (the UDP mux, the ICE candidate, the DTLS/SRTP
// demultiplexer, the SRTP session, the track reader) before the SFU sees it, and each hand-over
// wakes a thread. Here the goroutine that read it decrypts it (with the keys sfu/srtpout derives
// from the DTLS handshake) and gives it to the stream's handler at once.
//
// Only what pion has already set up is taken: a connection's packets once its keys are known and
// its ICE pair is chosen, and of those only RTP of streams registered with Add, which the SFU does
// once pion has told it of the track (pion learns simulcast layers and their SSRCs from the first
// packets), and the compound RTCP its handler (SetRTCP) accepts. Everything else (STUN, DTLS,
// unknown streams, RTCP the handler leaves) goes on to pion.
package srtpin

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/hop-meet/hop/sfu/srtpout"
)

// Handler takes one stream's decrypted RTP packets. HandleRTP runs on the socket's reader
// goroutine: it must not block, and p is only good until it returns.
type Handler interface {
	HandleRTP(p []byte)
}

// Demux routes packets read from the node's socket to the connections they come from.
//
// A connection is known by the peer address of its selected ICE pair, and by the SSRCs of the
// streams taken from it: a browser may send from another of its candidates than the pair the node
// selected, and an RTP packet from an unknown address is then tried with the keys of the
// connection its SSRC belongs to. Once one decrypts, its address is routed too. Authentication is
// what proves where a packet comes from, as in pion, whose ICE agent takes data on any valid pair.
type Demux struct {
	mu    sync.Mutex // serialises route changes
	conns atomic.Pointer[map[netip.AddrPort]*Conn]
	ssrcs atomic.Pointer[map[uint32]*Conn]

	// The reader goroutine's state: Tap is called for one packet at a time.
	buf  [1500]byte
	hdr  rtp.Header
	exts [8]rtp.Extension

	taken, failed, rtcpTaken atomic.Uint64
}

// NewDemux makes a Demux with no routes.
func NewDemux() *Demux {
	d := &Demux{}
	d.hdr.Extensions = d.exts[:0]
	return d
}

func key(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// Route sends what addr sends to c from now on (nil: to nobody).
func (d *Demux) Route(addr netip.AddrPort, c *Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := map[netip.AddrPort]*Conn{}
	if m := d.conns.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	if c != nil {
		next[key(addr)] = c
	} else {
		delete(next, key(addr))
	}
	d.conns.Store(&next)
}

// Forget removes every route to c, and its streams.
func (d *Demux) Forget(c *Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m := d.conns.Load(); m != nil {
		next := map[netip.AddrPort]*Conn{}
		for k, v := range *m {
			if v != c {
				next[k] = v
			}
		}
		d.conns.Store(&next)
	}
	if m := d.ssrcs.Load(); m != nil {
		next := map[uint32]*Conn{}
		for k, v := range *m {
			if v != c {
				next[k] = v
			}
		}
		d.ssrcs.Store(&next)
	}
}

// setSSRC records that ssrc belongs to c (nil: to nobody); the first connection to claim an SSRC
// keeps it.
func (d *Demux) setSSRC(ssrc uint32, c, was *Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := map[uint32]*Conn{}
	if m := d.ssrcs.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	switch cur, ok := next[ssrc]; {
	case c != nil && !ok:
		next[ssrc] = c
	case c == nil && cur == was:
		delete(next, ssrc)
	default:
		return
	}
	d.ssrcs.Store(&next)
}

// Stats returns how many RTP packets were taken from pion's path, and how many packets (RTP or
// RTCP) failed to decrypt (dropped, as pion would drop them).
func (d *Demux) Stats() (taken, failed uint64) { return d.taken.Load(), d.failed.Load() }

// Tap is shown each packet read from the socket, from one goroutine at a time, and reports
// whether it took it; if not, the packet goes on to pion.
func (d *Demux) Tap(p []byte, from netip.AddrPort) bool {
	// RTP or RTCP (RFC 7983: version 2; RFC 5761: payload types 64-95 with the marker bit are
	// RTCP's packet types 192-223).
	if len(p) < 12 || p[0]&0xc0 != 0x80 {
		return false
	}
	var c *Conn
	if m := d.conns.Load(); m != nil {
		c = (*m)[key(from)]
	}
	if p[1] >= 192 && p[1] <= 223 {
		// RTCP only from the routed address: its sender SSRC says nothing of the connection.
		return c != nil && d.rtcp(c, p)
	}
	ssrc := uint32(p[8])<<24 | uint32(p[9])<<16 | uint32(p[10])<<8 | uint32(p[11])
	learn := false
	if c == nil {
		m := d.ssrcs.Load()
		if m == nil {
			return false
		}
		if c = (*m)[ssrc]; c == nil {
			return false
		}
		learn = true
	}
	st := c.streams.Load()
	if st == nil {
		return false
	}
	h := (*st)[ssrc]
	if h == nil {
		return false
	}
	ok := len(p) <= len(d.buf)
	if ok {
		c.mu.Lock()
		out, err := c.ctx.DecryptRTP(d.buf[:len(p)], p, &d.hdr)
		c.mu.Unlock()
		ok = err == nil && len(out) > 0 && &out[0] == &d.buf[0]
		p = out
	}
	if !ok && learn {
		// Not this connection's after all (an SSRC two peers chose, or a forgery): pion's.
		return false
	}
	d.taken.Add(1)
	if !ok {
		d.failed.Add(1)
		return true
	}
	if learn {
		d.Route(from, c)
	}
	h.HandleRTP(p)
	return true
}

// rtcp decrypts a compound RTCP packet and offers it to c's handler; what the handler leaves goes
// on to pion as it came.
func (d *Demux) rtcp(c *Conn, p []byte) bool {
	h := c.rtcpHandler.Load()
	if h == nil || !c.started.Load() || len(p) > len(d.buf) {
		return false
	}
	c.mu.Lock()
	out, err := c.ctx.DecryptRTCP(d.buf[:len(p)], p, nil)
	c.mu.Unlock()
	if err != nil || len(out) == 0 || &out[0] != &d.buf[0] {
		d.failed.Add(1)
		return true
	}
	if !(*h)(out) {
		return false
	}
	d.rtcpTaken.Add(1)
	return true
}

// RTCPTaken returns how many compound RTCP packets handlers took.
func (d *Demux) RTCPTaken() uint64 { return d.rtcpTaken.Load() }

// Conn is one connection's inbound side.
type Conn struct {
	// rtcpHandler takes decrypted compound RTCP packets, reporting whether it handled them; those
	// it did not are left to pion.
	rtcpHandler atomic.Pointer[func(compound []byte) bool]

	mu      sync.Mutex // guards ctx, which is not safe for concurrent use
	ctx     *srtp.Context
	streams atomic.Pointer[map[uint32]Handler]
	started atomic.Bool
	d       *Demux     // set by Bind
	smu     sync.Mutex // serialises stream changes
}

// SetRTCP installs the connection's RTCP handler. It runs on the socket's reader, must not block,
// and must not keep the packet; a packet it refuses (false) goes to pion, which decrypts it again.
func (c *Conn) SetRTCP(h func(compound []byte) bool) { c.rtcpHandler.Store(&h) }

// Bind makes c a connection of d: its streams are found by SSRC too (see Demux).
func (c *Conn) Bind(d *Demux) { c.d = d }

// Start gives the connection the peer's keys; until then, and if they cannot be used, pion keeps
// every packet.
func (c *Conn) Start(k srtpout.Keys) error {
	ctx, err := srtp.CreateContext(k.Key, k.Salt, k.Profile, srtp.SRTPReplayProtection(64))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	c.started.Store(true)
	return nil
}

// Started reports whether the keys are known.
func (c *Conn) Started() bool { return c.started.Load() }

// Add takes the stream ssrc from pion's path: from now on its packets go to h. roc is the
// stream's rollover counter now (its extended highest sequence number over 65536), which the
// new decryption context cannot guess for a stream past its first wrap. Without keys, Add does
// nothing and reports false.
func (c *Conn) Add(ssrc uint32, roc uint32, h Handler) bool {
	if !c.started.Load() {
		return false
	}
	c.mu.Lock()
	c.ctx.SetROC(ssrc, roc)
	c.mu.Unlock()
	c.smu.Lock()
	defer c.smu.Unlock()
	next := c.without(ssrc)
	next[ssrc] = h
	c.streams.Store(&next)
	if c.d != nil {
		c.d.setSSRC(ssrc, c, nil)
	}
	return true
}

// without copies c's streams but ssrc (copy-on-write: Tap reads them without a lock). c.smu is
// held.
func (c *Conn) without(ssrc uint32) map[uint32]Handler {
	next := map[uint32]Handler{}
	if m := c.streams.Load(); m != nil {
		for k, v := range *m {
			if k != ssrc {
				next[k] = v
			}
		}
	}
	return next
}

// Remove gives the stream back to pion's path (a packet being handled may still reach its
// handler).
func (c *Conn) Remove(ssrc uint32) {
	c.smu.Lock()
	defer c.smu.Unlock()
	m := c.streams.Load()
	if m == nil {
		return
	}
	if _, ok := (*m)[ssrc]; !ok {
		return
	}
	next := c.without(ssrc)
	c.streams.Store(&next)
	if c.d != nil {
		c.d.setSSRC(ssrc, nil, c)
	}
}
