package sdk_test

import (
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/testkit"
)

// A participant publishes three simulcast layers; two subscribers asking for different sizes each
// get their own layer, switched at keyframes into one continuous stream.
func TestSimulcastSubscribersGetTheirLayer(t *testing.T) {
	for _, mode := range signallingModes {
		t.Run(mode.name, func(t *testing.T) {
			n := testkit.StartNode(t, nil)
			m := testkit.MakeMedia(t)
			const want = 150
			pubc := connect(t, n, "sim", "carol", connectOpts{singlePC: mode.singlePC, autoSubscribe: true}, want)

			subs := map[string]*client{
				"dave": connect(t, n, "sim", "dave", connectOpts{singlePC: mode.singlePC, autoSubscribe: true,
					onSubscribed: func(p *lksdk.RemoteTrackPublication) { _ = p.SetVideoQuality(livekit.VideoQuality_LOW) }}, want),
				"erin": connect(t, n, "sim", "erin", connectOpts{singlePC: mode.singlePC, autoSubscribe: true,
					onSubscribed: func(p *lksdk.RemoteTrackPublication) { p.SetVideoDimensions(1280, 720) }}, want),
			}

			var tracks []*lksdk.LocalTrack
			for _, l := range []struct {
				q    livekit.VideoQuality
				w, h int
			}{{livekit.VideoQuality_LOW, 320, 180}, {livekit.VideoQuality_MEDIUM, 640, 360}, {livekit.VideoQuality_HIGH, 1280, 720}} {
				tr, err := lksdk.NewLocalFileTrack(m.VP8[l.h], lksdk.ReaderTrackWithFrameDuration(33*time.Millisecond),
					lksdk.ReaderTrackWithSampleOptions(lksdk.WithSimulcast("cam", &livekit.VideoLayer{Quality: l.q, Width: uint32(l.w), Height: uint32(l.h)})))
				if err != nil {
					t.Fatal(err)
				}
				tracks = append(tracks, tr)
			}
			if _, err := pubc.room.LocalParticipant.PublishSimulcastTrack(tracks, &lksdk.TrackPublicationOptions{
				Name: "cam", Source: livekit.TrackSource_CAMERA, VideoWidth: 1280, VideoHeight: 720}); err != nil {
				t.Fatalf("publish simulcast: %v", err)
			}

			dave := subs["dave"].track("carol/" + webrtc.RTPCodecTypeVideo.String())
			erin := subs["erin"].track("carol/" + webrtc.RTPCodecTypeVideo.String())
			waitKeyframe(t, "dave", dave, 320, 180, 15*time.Second)
			waitKeyframe(t, "erin", erin, 1280, 720, 15*time.Second)
			subs["dave"].waitFor("carol", webrtc.RTPCodecTypeVideo, 15*time.Second)
			subs["erin"].waitFor("carol", webrtc.RTPCodecTypeVideo, 15*time.Second)
			for name, r := range map[string]*received{"dave": dave, "erin": erin} {
				r.mu.Lock()
				// One continuous stream: a single SSRC and no sequence number missing for good
				// (a packet lost on the way and recovered by NACK arrives late, filling its gap).
				if r.gaps != r.reorders || len(r.ssrcs) != 1 {
					t.Errorf("%s: %d packets, %d missing (after packets %v), %d recovered late, %d SSRCs: want one continuous stream",
						name, r.packets, r.gaps, r.gapAt, r.reorders, len(r.ssrcs))
				}
				r.mu.Unlock()
			}
		})
	}
}
