package browser_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/test/browser"
)

// Three Chromium participants (livekit-client 2.23, fake camera and microphone) meet through Hop:
// each decodes both others' 1280x720 video with frames advancing, hears their audio, and gets their
// data message; once on /rtc/v1 (one PeerConnection), once falling back to /rtc (two).
func TestThreeBrowsersMeet(t *testing.T) {
	for _, mode := range []struct {
		name     string
		singlePC bool
		path     string
	}{{"rtc-v1", true, "/rtc/v1"}, {"rtc-fallback", false, "/rtc"}} {
		t.Run(mode.name, func(t *testing.T) {
			n := testkit.StartNode(t, func(c *config.Config) { c.Signal.SinglePeerConnection = mode.singlePC })
			ids := []string{"an", "binh", "chi"}
			var ps []browser.Participant
			for _, id := range ids {
				ps = append(ps, browser.Participant{Identity: id, Token: n.Token(t, "hop-"+mode.name, id)})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			res, err := browser.Run(ctx, browser.Spec{
				URL:          n.URL(),
				Participants: ps,
				// Chromium's bandwidth estimate ramps up before it sends the 720p layer; the
				// harness stops waiting as soon as every video is decoded at 1280x720.
				DurationMs:   40000,
				ForceV0:      !mode.singlePC,
				ExpectWidth:  1280,
				ExpectHeight: 720,
			})
			if err != nil {
				t.Fatalf("browser run: %v", err)
			}
			for _, id := range ids {
				p := res.Participant(id)
				if p == nil || !p.Connected {
					t.Fatalf("%s did not connect: %+v", id, p)
				}
				if p.SignalPath != mode.path {
					t.Errorf("%s used %s, want %s", id, p.SignalPath, mode.path)
				}
				for _, e := range p.Errors {
					t.Errorf("%s: %s", id, e)
				}
				for _, other := range ids {
					if other == id {
						continue
					}
					r := p.Remote(other)
					if r == nil {
						t.Errorf("%s sees nothing of %s", id, other)
						continue
					}
					v := r.Video
					if v.Width != 1280 || v.Height != 720 || !v.Advancing() {
						t.Errorf("%s ← %s video: %dx%d, frames %v (%s), want 1280x720 advancing", id, other, v.Width, v.Height, v.FramesDecoded, v.Codec)
					}
					if !r.Audio.Advancing() {
						t.Errorf("%s ← %s audio: packets %v energy %v, want both rising", id, other, r.Audio.PacketsReceived, r.Audio.TotalAudioEnergy)
					}
					got := false
					for _, d := range p.DataReceived {
						if d.From == other {
							got = true
						}
					}
					if !got {
						t.Errorf("%s got no data message from %s (got %s)", id, other, fmt.Sprint(p.DataReceived))
					}
				}
			}
			// The node was the DTLS server of every Chromium connection (it answers with
			// setup:passive; Chromium answers its offers with setup:active), so it encrypted what
			// it forwarded itself, and Chromium decoded it.
			sn := n.Engine().Stats().Snapshot()
			if sn.DirectPackets < sn.PacketsSent*9/10 {
				t.Errorf("%d of %d forwarded packets were encrypted by the node's own SRTP senders", sn.DirectPackets, sn.PacketsSent)
			}
			// And it decrypted what it received itself (sfu/srtpin), apart from each stream's
			// first packets, which pion reads to learn the stream.
			if sn.DirectReceived < sn.PacketsReceived*9/10 || sn.DirectDropped != 0 {
				t.Errorf("srtpin took %d of %d RTP packets received; %d failed to decrypt", sn.DirectReceived, sn.PacketsReceived, sn.DirectDropped)
			}
			// Chromium's feedback (transport-wide, NACK, PLI, reports) was read there too.
			if sn.DirectRTCP == 0 {
				t.Error("no RTCP read on the node's fast path")
			}
		})
	}
}
