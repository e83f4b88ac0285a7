package sdk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/testkit"
)

// Two participants publish real Opus and VP8 and each receives the other's tracks, with the right
// codec and every packet in order, over both signalling modes.
func TestTwoParticipantsExchangeMedia(t *testing.T) {
	for _, mode := range signallingModes {
		t.Run(mode.name, func(t *testing.T) {
			n := testkit.StartNode(t, nil)
			m := testkit.MakeMedia(t)
			const want = 120 // ~2.4 s of audio, ~4 s of video
			a := connect(t, n, "meet", "alice", connectOpts{singlePC: mode.singlePC, autoSubscribe: true}, want)
			b := connect(t, n, "meet", "bob", connectOpts{singlePC: mode.singlePC, autoSubscribe: true}, want)
			for _, c := range []*client{a, b} {
				publishFile(t, c, m.Opus, 20*time.Millisecond, "mic")
				publishFile(t, c, m.VP8[360], 33*time.Millisecond, "camera")
			}
			for _, pair := range []struct {
				c    *client
				from string
			}{{a, "bob"}, {b, "alice"}} {
				for _, k := range []struct {
					kind webrtc.RTPCodecType
					mime string
				}{{webrtc.RTPCodecTypeAudio, "audio/opus"}, {webrtc.RTPCodecTypeVideo, "video/vp8"}} {
					r := pair.c.waitFor(pair.from, k.kind, 20*time.Second)
					r.mu.Lock()
					if !strings.EqualFold(r.mime, k.mime) {
						t.Errorf("%s from %s: codec %s, want %s", pair.c.room.LocalParticipant.Identity(), pair.from, r.mime, k.mime)
					}
					if r.gaps != 0 || r.reorders != 0 {
						t.Errorf("%s from %s/%s: %d packets, %d missing (gaps after packets %v), %d out of order", pair.c.room.LocalParticipant.Identity(), pair.from, k.kind, r.packets, r.gaps, r.gapAt, r.reorders)
					}
					r.mu.Unlock()
				}
			}
			// Each subscribing connection's packets left from its writer's own batch.
			sn := n.Engine().Stats().Snapshot()
			if sn.LaneRoutes < 2 {
				t.Errorf("%d peer addresses routed to a writer's batch, want one per subscribing connection (2)", sn.LaneRoutes)
			}
			if sn.LanePackets < sn.PacketsSent*9/10 {
				t.Errorf("%d of %d forwarded packets went through writers' own batches", sn.LanePackets, sn.PacketsSent)
			}
			// And the node encrypted them itself, with the keys of each connection's handshake
			// (the SDK decrypting them, with no gap, is what shows the keys are right).
			if sn.DirectPackets < sn.PacketsSent*9/10 {
				t.Errorf("%d of %d forwarded packets were encrypted by the node's own SRTP senders", sn.DirectPackets, sn.PacketsSent)
			}
		})
	}
}
