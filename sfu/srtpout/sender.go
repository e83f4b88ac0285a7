package srtpout

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/hop-meet/hop/sfu/udpbatch"
)

// Route is where a connection's packets go: the peer's address on the node's UDP socket, queued
// in the batch of the connection's writer lane when the caller is inside that lane's scope, or a
// muxed ICE-TCP connection. With neither, packets are encrypted and counted, then dropped (what
// a benchmark of the sending path wants).
type Route struct {
	UDP  *udpbatch.Conn
	Lane int // the writer lane's index; -1 for none
	Addr netip.AddrPort

	TCP net.PacketConn
	To  net.Addr
}

// Sender modes: until the DTLS handshake is over, RTP is dropped (as pion drops it before its
// SRTP session starts); then either the Sender encrypts and sends it, or, when the keys are not
// known, it leaves every packet to pion. The choice is made once: two SRTP contexts must never
// encrypt for the same stream, since each keeps its own rollover counter.
const (
	modePending int32 = iota
	modeDirect
	modePion
)

// maxTag is the longest SRTP authentication tag of the profiles supported (AES-GCM's).
const maxTag = 16

// Sender encrypts and sends one connection's RTP. Its methods may be called from any goroutine.
//
// It is written for every packet its connection sends, from that connection's writer lane: its
// size is padded to whole 128-byte line pairs so that it shares none with a Sender of another lane.
type Sender struct {
	sender
	_ [(128 - unsafe.Sizeof(sender{})%128) % 128]byte
}

type sender struct {
	mode  atomic.Int32
	route atomic.Pointer[Route]
	// sent counts the packets sent. It is the Sender's own: one counter shared by every
	// connection moved its cache line between the writers' cores for every packet.
	sent atomic.Uint64

	// gcm seals the streams written with their Stream when the profile is AES-GCM (see gcm).
	gcm atomic.Pointer[gcm]

	mu  sync.Mutex // guards ctx and hdr: an SRTP context is not safe for concurrent use
	ctx *srtp.Context
	// hdr receives the header EncryptRTP parses back from the packet; its extension list has room
	// for the extensions Hop writes, so parsing allocates nothing.
	hdr    rtp.Header
	hdrExt [4]rtp.Extension
}

// NewSender makes a Sender in the pending mode.
func NewSender() *Sender {
	s := &Sender{}
	s.hdr.Extensions = s.hdrExt[:0]
	return s
}

// Sent returns how many packets the Sender encrypted and sent.
func (s *Sender) Sent() uint64 { return s.sent.Load() }

// Start ends the pending mode once the DTLS handshake is over: with the keys the handshake
// showed, the Sender sends from now on; without them (err != nil), pion does. It returns the
// keys of the other direction, for the connection's inbound side (see sfu/srtpin).
func (s *Sender) Start(h *Handshake) (remote Keys, err error) {
	local, remote, err := h.SessionKeys()
	if err != nil {
		s.mode.CompareAndSwap(modePending, modePion)
		return Keys{}, err
	}
	return remote, s.StartKeys(local)
}

// StartKeys is Start with the keys already known.
func (s *Sender) StartKeys(k Keys) error {
	ctx, err := srtp.CreateContext(k.Key, k.Salt, k.Profile)
	if err != nil {
		s.mode.CompareAndSwap(modePending, modePion)
		return fmt.Errorf("srtpout: context: %w", err)
	}
	g, err := newGCM(k)
	if err != nil {
		s.mode.CompareAndSwap(modePending, modePion)
		return err
	}
	if g != nil {
		s.gcm.Store(g)
	}
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.mode.CompareAndSwap(modePending, modeDirect)
	return nil
}

// Direct reports whether the Sender sends the connection's RTP itself.
func (s *Sender) Direct() bool { return s.mode.Load() == modeDirect }

// SetRoute says where packets go from now on (nil: nowhere, they are dropped).
func (s *Sender) SetRoute(r *Route) { s.route.Store(r) }

var errTooLarge = errors.New("srtpout: packet too large")

// bufs are for packets encrypted outside a lane's batch (retransmissions, probes, TCP).
var bufs = sync.Pool{New: func() any { return new([2048]byte) }}

// WriteRTP encrypts and sends one RTP packet. handled is false when pion sends this
// connection's RTP (see Start), and the caller must write the packet through pion instead.
func (s *Sender) WriteRTP(h *rtp.Header, payload []byte) (handled bool, n int, err error) {
	return s.WriteRTPStream(nil, h, payload)
}

// WriteRTPStream is WriteRTP for a stream whose rollover state st the caller keeps: with AES-GCM,
// the packet is then sealed without pion's context. A stream must be written always with its
// Stream or always without: the two ways count rollovers apart.
func (s *Sender) WriteRTPStream(st *Stream, h *rtp.Header, payload []byte) (handled bool, n int, err error) {
	switch s.mode.Load() {
	case modePion:
		return false, 0, nil
	case modePending:
		return true, 0, nil
	}
	r := s.route.Load()
	if r == nil {
		return true, 0, nil
	}
	if r.UDP != nil {
		if slot := r.UDP.Reserve(r.Lane); slot != nil {
			n, err := s.seal(slot, st, h, payload)
			r.UDP.Commit(r.Lane, r.Addr, n)
			s.count(err)
			return true, n, err
		}
	}
	buf := bufs.Get().(*[2048]byte)
	defer bufs.Put(buf)
	if n, err = s.seal(buf[:], st, h, payload); err != nil {
		return true, 0, err
	}
	switch {
	case r.UDP != nil:
		_, err = r.UDP.WriteToAddrPort(buf[:n], r.Addr)
	case r.TCP != nil:
		_, err = r.TCP.WriteTo(buf[:n], r.To)
	}
	s.count(err)
	return true, n, err
}

func (s *Sender) count(err error) {
	if err == nil {
		s.sent.Add(1)
	}
}

// seal writes the packet into dst and encrypts it there, returning its encrypted length.
func (s *Sender) seal(dst []byte, st *Stream, h *rtp.Header, payload []byte) (int, error) {
	hl := h.MarshalSize()
	n := hl + len(payload)
	if n+maxTag > len(dst) {
		return 0, errTooLarge
	}
	if _, err := h.MarshalTo(dst); err != nil {
		return 0, fmt.Errorf("srtpout: header: %w", err)
	}
	copy(dst[hl:n], payload)
	if g := s.gcm.Load(); g != nil && st != nil {
		return g.seal(st, dst, hl, n, h.SSRC, h.SequenceNumber), nil
	}
	s.mu.Lock()
	out, err := s.ctx.EncryptRTP(dst[:n], dst[:n], &s.hdr)
	s.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("srtpout: encrypt: %w", err)
	}
	if len(out) > len(dst) || &out[0] != &dst[0] {
		return 0, errTooLarge // not encrypted in place: the buffer was too small after all
	}
	return len(out), nil
}
