package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/packetcache"
)

// recordingSubscriber is a subscriber that is not a client's downtrack, as a recorder will be.
type recordingSubscriber struct {
	desired int8
	got     chan uint16

	mu     sync.Mutex
	active [MaxLayers]bool
	closed bool
}

func (r *recordingSubscriber) WritePacket(_ int8, p *packetcache.Packet, _ int64, _ *forwarder.Scratch) {
	r.got <- p.SequenceNumber
}
func (r *recordingSubscriber) Lane() *forwarder.Lane { return nil }
func (r *recordingSubscriber) DesiredLayer() int8    { return r.desired }
func (r *recordingSubscriber) Paused() bool          { return false }
func (r *recordingSubscriber) LayersChanged(a [MaxLayers]bool) {
	r.mu.Lock()
	r.active = a
	r.mu.Unlock()
}
func (r *recordingSubscriber) SourceClosed() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// A subscriber of any kind receives the track's packets, counts toward the layer demand, and is
// told when the track ends.
func TestNonDowntrackSubscriber(t *testing.T) {
	demand := make(chan struct{}, 8)
	tr := NewTrack(TrackParams{ID: "TR_s", PublisherID: "PA_s", Kind: webrtc.RTPCodecTypeVideo,
		OnDemandChanged: func() { demand <- struct{}{} }})
	c := vp8
	tr.codec.Store(&c)
	tr.codecKind.Store(uint32(codecs.VP8))
	rec := &recordingSubscriber{desired: 2, got: make(chan uint16, 16)}
	if !tr.AddSubscriber(rec) {
		t.Fatal("subscriber refused by an open track")
	}
	<-demand
	if got := tr.MaxDesiredLayer(); got != 2 {
		t.Fatalf("demand %d with a subscriber wanting the top layer", got)
	}
	r := &Receiver{track: tr, ssrc: 5, cache: packetcache.New(64), video: true, done: make(chan struct{})}
	for seq := uint16(1); seq <= 3; seq++ {
		pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: 5, Timestamp: uint32(seq)},
			Payload: []byte{0x10, 0, 0, 0, 0}}).Marshal()
		r.pmu.Lock()
		r.store(pkt, nil)
		r.pmu.Unlock()
	}
	for want := uint16(1); want <= 3; want++ {
		select {
		case got := <-rec.got:
			if got != want {
				t.Fatalf("packet %d, want %d", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d never reached the subscriber", want)
		}
	}
	tr.RemoveSubscriber(rec)
	<-demand
	if got := tr.MaxDesiredLayer(); got != LayerOff {
		t.Fatalf("demand %d after the only subscriber left", got)
	}
	if len(tr.DownTracks()) != 0 {
		t.Fatal("a non-downtrack subscriber listed as a downtrack")
	}
	again := &recordingSubscriber{desired: 0, got: make(chan uint16, 16)}
	tr.AddSubscriber(again)
	tr.Close()
	again.mu.Lock()
	closed := again.closed
	again.mu.Unlock()
	if !closed {
		t.Fatal("subscriber not told that its track closed")
	}
	if tr.AddSubscriber(rec) {
		t.Fatal("a closed track took a subscriber")
	}
}
