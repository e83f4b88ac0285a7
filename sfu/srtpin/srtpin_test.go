package srtpin

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/hop-meet/hop/sfu/srtpout"
)

var (
	peer  = netip.MustParseAddrPort("127.0.0.1:40000")
	other = netip.MustParseAddrPort("127.0.0.1:40001")
	keys  = srtpout.Keys{Key: bytes.Repeat([]byte{7}, 16), Salt: bytes.Repeat([]byte{9}, 12), Profile: srtp.ProtectionProfileAeadAes128Gcm}
)

type recorder struct{ got [][]byte }

func (r *recorder) HandleRTP(p []byte) { r.got = append(r.got, append([]byte(nil), p...)) }

// sealer encrypts as the peer does.
func sealer(t *testing.T) *srtp.Context {
	t.Helper()
	ctx, err := srtp.CreateContext(keys.Key, keys.Salt, keys.Profile)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func packet(t *testing.T, ctx *srtp.Context, ssrc uint32, seq uint16) (plain, sealed []byte) {
	t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 1234, SSRC: ssrc},
		Payload: bytes.Repeat([]byte{byte(seq)}, 200)}
	plain, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err = ctx.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	return plain, sealed
}

func setup(t *testing.T) (*Demux, *Conn, *recorder) {
	t.Helper()
	d := NewDemux()
	c := &Conn{}
	if err := c.Start(keys); err != nil {
		t.Fatal(err)
	}
	d.Route(peer, c)
	h := &recorder{}
	if !c.Add(1111, 0, h) {
		t.Fatal("Add refused a started connection")
	}
	return d, c, h
}

// A registered stream's packets from the routed address are taken and handed over decrypted;
// everything else is left to pion.
func TestTapTakesOnlyRegisteredStreams(t *testing.T) {
	d, c, h := setup(t)
	ctx := sealer(t)
	plain, sealed := packet(t, ctx, 1111, 10)
	if !d.Tap(sealed, peer) {
		t.Fatal("registered stream's packet not taken")
	}
	if len(h.got) != 1 || !bytes.Equal(h.got[0], plain) {
		t.Fatalf("handler got %d packets, want the decrypted one", len(h.got))
	}
	// An IPv4-mapped spelling of the same peer is the same peer.
	_, sealed2 := packet(t, ctx, 1111, 11)
	if !d.Tap(sealed2, netip.AddrPortFrom(netip.AddrFrom16(peer.Addr().As16()), peer.Port())) {
		t.Fatal("mapped address not recognised")
	}

	_, unknown := packet(t, ctx, 2222, 1)
	_, fromOther := packet(t, ctx, 1111, 12)
	rtcp := append([]byte{0x80, 200}, make([]byte, 26)...)
	stun := append([]byte{0x00, 0x01}, make([]byte, 18)...)
	dtls := append([]byte{22, 0xfe, 0xfd}, make([]byte, 20)...)
	for name, tc := range map[string]struct {
		p    []byte
		from netip.AddrPort
	}{
		"unknown ssrc": {unknown, peer}, "other address": {fromOther, other},
		"rtcp": {rtcp, peer}, "stun": {stun, peer}, "dtls": {dtls, peer}, "short": {sealed[:8], peer},
	} {
		if d.Tap(tc.p, tc.from) {
			t.Errorf("%s: taken", name)
		}
	}
	c.Remove(1111)
	_, after := packet(t, ctx, 1111, 13)
	if d.Tap(after, peer) {
		t.Error("removed stream still taken")
	}
	if taken, failed := d.Stats(); taken != 2 || failed != 0 {
		t.Errorf("stats %d taken %d failed, want 2 and 0", taken, failed)
	}
}

// A forged or damaged packet is taken and dropped, as pion would drop it; a replayed one too.
func TestTapDropsWhatDoesNotAuthenticate(t *testing.T) {
	d, _, h := setup(t)
	ctx := sealer(t)
	_, sealed := packet(t, ctx, 1111, 20)
	bad := append([]byte(nil), sealed...)
	bad[len(bad)-1] ^= 1
	if !d.Tap(bad, peer) || len(h.got) != 0 {
		t.Fatal("damaged packet handed over")
	}
	if !d.Tap(sealed, peer) || len(h.got) != 1 {
		t.Fatal("good packet not handed over")
	}
	if !d.Tap(sealed, peer) || len(h.got) != 1 {
		t.Fatal("replayed packet handed over")
	}
	if _, failed := d.Stats(); failed != 2 {
		t.Errorf("%d failed, want 2", failed)
	}
}

// A stream taken over after its sequence numbers wrapped decrypts with the rollover counter Add is
// given.
func TestAddCarriesTheRolloverCounter(t *testing.T) {
	d := NewDemux()
	c := &Conn{}
	h := &recorder{}
	if c.Add(1111, 0, h) {
		t.Fatal("Add before Start took the stream")
	}
	if err := c.Start(keys); err != nil {
		t.Fatal(err)
	}
	d.Route(peer, c)
	c.Add(1111, 3, h)
	ctx := sealer(t)
	ctx.SetROC(1111, 3)
	plain, sealed := packet(t, ctx, 1111, 500)
	if !d.Tap(sealed, peer) || len(h.got) != 1 || !bytes.Equal(h.got[0], plain) {
		t.Fatal("packet of the fourth cycle not decrypted")
	}
	d.Forget(c)
	_, next := packet(t, ctx, 1111, 501)
	if d.Tap(next, peer) {
		t.Fatal("forgotten connection still routed")
	}
}

func TestTapAllocatesNothing(t *testing.T) {
	d, _, _ := setup(t)
	c2 := &Conn{}
	_ = c2.Start(keys)
	d.Route(other, c2)
	n := &nop{}
	c2.Add(3333, 0, n)
	ctx := sealer(t)
	var pkts [][]byte
	for i := range 200 {
		_, s := packet(t, ctx, 3333, uint16(i))
		pkts = append(pkts, s)
	}
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		d.Tap(pkts[i], other)
		i++
	})
	if allocs != 0 || n.n == 0 {
		t.Fatalf("%.1f allocations per packet (%d handled)", allocs, n.n)
	}
}

type nop struct{ n int }

func (n *nop) HandleRTP([]byte) { n.n++ }

// Whatever arrives, Tap answers without panicking.
func FuzzTap(f *testing.F) {
	ctx, _ := srtp.CreateContext(keys.Key, keys.Salt, keys.Profile)
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 1, SSRC: 1111}, Payload: []byte{1, 2, 3}}
	_ = p.Header.SetExtension(1, []byte{1, 2})
	plain, _ := p.Marshal()
	sealed, _ := ctx.EncryptRTP(nil, plain, nil)
	f.Add(sealed)
	f.Add(plain)
	f.Add([]byte{0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 4, 87})
	d := NewDemux()
	c := &Conn{}
	_ = c.Start(keys)
	d.Route(peer, c)
	c.Add(1111, 0, &nop{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d.Tap(b, peer)
	})
}

// A peer that sends from another address than the routed one is found by its stream's SSRC once
// a packet from there decrypts with its keys, and that address is routed from then on; a packet
// that does not decrypt is left to pion.
func TestTapLearnsAPeersOtherAddress(t *testing.T) {
	d := NewDemux()
	c := &Conn{}
	c.Bind(d)
	if err := c.Start(keys); err != nil {
		t.Fatal(err)
	}
	d.Route(peer, c)
	h := &recorder{}
	c.Add(1111, 0, h)
	ctx := sealer(t)
	_, forged := packet(t, sealer(t), 1111, 1)
	forged[len(forged)-1] ^= 1
	if d.Tap(forged, other) {
		t.Fatal("a forged packet from an unknown address was taken")
	}
	_, good := packet(t, ctx, 1111, 2)
	if !d.Tap(good, other) || len(h.got) != 1 {
		t.Fatal("a good packet from the peer's other address was not taken")
	}
	if m := d.conns.Load(); (*m)[other] != c {
		t.Fatal("the other address was not routed")
	}
	c.Remove(1111)
	if m := d.ssrcs.Load(); (*m)[1111] != nil {
		t.Fatal("a removed stream is still found by SSRC")
	}
	d.Forget(c)
	if m := d.conns.Load(); len(*m) != 0 {
		t.Fatalf("%d routes left after Forget", len(*m))
	}
}

// Compound RTCP from the routed peer is decrypted and offered to the handler; what it refuses,
// and everything before a handler is set, goes on to pion.
func TestTapOffersRTCPToTheHandler(t *testing.T) {
	d, c, _ := setup(t)
	ctx := sealer(t)
	rr := []byte{0x80, 201, 0, 1, 0, 0, 0x04, 0x57} // an empty receiver report from SSRC 1111
	seal := func() []byte {
		p, err := ctx.EncryptRTCP(nil, rr, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if d.Tap(seal(), peer) {
		t.Fatal("RTCP taken without a handler")
	}
	var got [][]byte
	take := true
	c.SetRTCP(func(b []byte) bool {
		got = append(got, append([]byte(nil), b...))
		return take
	})
	if !d.Tap(seal(), peer) || len(got) != 1 || !bytes.Equal(got[0], rr) {
		t.Fatalf("handler got %x, want %x", got, rr)
	}
	take = false
	if d.Tap(seal(), peer) || len(got) != 2 {
		t.Fatal("refused RTCP not left to pion")
	}
	if d.Tap(seal(), other) {
		t.Fatal("RTCP from an unrouted address taken")
	}
	bad := seal()
	bad[len(bad)-1] ^= 1
	if !d.Tap(bad, peer) || len(got) != 2 {
		t.Fatal("forged RTCP handed over")
	}
	if n := d.RTCPTaken(); n != 1 {
		t.Fatalf("%d RTCP packets taken, want 1", n)
	}
}
