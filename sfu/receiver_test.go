package sfu

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/packetcache"
)

func TestCacheSizeFollowsLayerRate(t *testing.T) {
	for _, c := range []struct {
		kind  webrtc.RTPCodecType
		rid   string
		layer int8
		want  int
	}{
		{webrtc.RTPCodecTypeVideo, "", 0, videoCacheSize}, // one layer: it may be the 720p one
		{webrtc.RTPCodecTypeVideo, "f", 2, videoCacheSize},
		{webrtc.RTPCodecTypeVideo, "h", 1, lowerLayerCacheSize},
		{webrtc.RTPCodecTypeVideo, "q", 0, lowerLayerCacheSize},
		{webrtc.RTPCodecTypeAudio, "", 0, audioCacheSize},
	} {
		got := cacheSize(c.kind, c.rid, c.layer)
		if got != c.want {
			t.Errorf("%s rid %q layer %d: %d slots, want %d", c.kind, c.rid, c.layer, got, c.want)
		}
		// A queued packet's slot must not be reused before a writer gets to it.
		if got < 2*forwarder.QueueSize {
			t.Errorf("%s rid %q: %d slots is under twice the forwarder queue (%d)", c.kind, c.rid, got, forwarder.QueueSize)
		}
	}
	// A top layer's cache still answers NACKs over a long round trip: 1.5 s of 720p at 2.5 Mbit/s
	// in 1200-byte packets.
	if pps := 2.5e6 / 8 / 1200; float64(videoCacheSize) < 1.5*pps {
		t.Errorf("top layer: %d slots hold under 1.5 s of 720p (%.0f packets a second)", videoCacheSize, pps)
	}
}

// A hole in a publisher's stream is asked for at once, from the packet that shows it, and the
// packet that fills it stops the asking; a stream that did not negotiate NACK is never asked.
func TestReceiverAsksPublisherForHoles(t *testing.T) {
	nacks := make(chan *rtcp.TransportLayerNack, 4)
	tr := NewTrack(TrackParams{ID: "TR_n", PublisherID: "PA_n", Kind: webrtc.RTPCodecTypeVideo,
		WriteRTCP: func(pkts []rtcp.Packet) error {
			for _, p := range pkts {
				if n, ok := p.(*rtcp.TransportLayerNack); ok {
					nacks <- n
				}
			}
			return nil
		}})
	c := vp8
	tr.codec.Store(&c)
	tr.codecKind.Store(uint32(codecs.VP8))
	send := func(r *Receiver, seq uint16) {
		pkt, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: r.ssrc, Timestamp: uint32(seq) * 3000},
			Payload: []byte{0x10, 0, 0, 0, 0}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		r.pmu.Lock()
		r.store(pkt, nil)
		r.pmu.Unlock()
	}
	r := &Receiver{track: tr, ssrc: 77, cache: packetcache.New(64), video: true, nackOn: true, done: make(chan struct{})}
	for _, seq := range []uint16{1, 2, 3, 6} {
		send(r, seq)
	}
	select {
	case n := <-nacks:
		var got []uint16
		for _, p := range n.Nacks {
			got = append(got, p.PacketList()...)
		}
		if n.MediaSSRC != 77 || !slices.Equal(got, []uint16{4, 5}) {
			t.Fatalf("NACK for SSRC %d packets %v, want SSRC 77 packets [4 5]", n.MediaSSRC, got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NACK for the hole 4-5")
	}
	send(r, 4)
	send(r, 5)
	if r.nack.Missing() != 0 {
		t.Fatalf("%d packets still asked for after the hole filled", r.nack.Missing())
	}
	quiet := &Receiver{track: tr, ssrc: 78, cache: packetcache.New(64), video: true, done: make(chan struct{})}
	send(quiet, 1)
	send(quiet, 9)
	// The feedback goroutine takes requests in order: a NACK asked after this one would come first.
	send(r, 9)
	select {
	case n := <-nacks:
		if n.MediaSSRC != 77 {
			t.Fatalf("NACK for SSRC %d, which did not negotiate NACK", n.MediaSSRC)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no NACK for the hole 7-8")
	}
	tr.Close() // waits for the feedback goroutine, which counts after each write
	if got := tr.NACKsSent(); got != 2+2 {
		t.Fatalf("NACKsSent %d, want 4", got)
	}
}
