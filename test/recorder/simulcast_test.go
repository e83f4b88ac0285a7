package recorder_test

import (
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// A simulcast camera is recorded from its top layer, in one playable file, though nobody else
// watches it (the recorder's own demand keeps that layer coming).
func TestSimulcastRecordsTopLayer(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) { c.Recorder.Dir = t.TempDir() })
	m := testkit.MakeMedia(t)
	carol := join(t, n, "sim", "carol")
	var layers []*lksdk.LocalTrack
	for _, l := range []struct {
		q    livekit.VideoQuality
		w, h int
	}{{livekit.VideoQuality_LOW, 320, 180}, {livekit.VideoQuality_MEDIUM, 640, 360}, {livekit.VideoQuality_HIGH, 1280, 720}} {
		tr, err := lksdk.NewLocalFileTrack(m.VP8[l.h], lksdk.ReaderTrackWithFrameDuration(33*time.Millisecond),
			lksdk.ReaderTrackWithSampleOptions(lksdk.WithSimulcast("cam", &livekit.VideoLayer{Quality: l.q, Width: uint32(l.w), Height: uint32(l.h)})))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, tr)
	}
	pub, err := carol.LocalParticipant.PublishSimulcastTrack(layers, &lksdk.TrackPublicationOptions{
		Name: "cam", Source: livekit.TrackSource_CAMERA, VideoWidth: 1280, VideoHeight: 720})
	if err != nil {
		t.Fatalf("publish simulcast: %v", err)
	}
	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	eg := startTrackEgress(t, ec, "sim", pub.SID())
	time.Sleep(5 * time.Second) // five seconds of video
	info := stopAndWait(t, ec, eg.EgressId)
	if info.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(info.FileResults) != 1 {
		t.Fatalf("egress: %v", info)
	}
	f := info.FileResults[0]
	if got := probe(t, f.Location, "v:0", "stream=codec_name,width,height"); got != "vp8\n1280\n720" {
		t.Errorf("%s: %q, want vp8 1280x720", f.Filename, got)
	}
	// Every frame in the file is the top layer's.
	widths := strings.Fields(probe(t, f.Location, "v:0", "frame=width"))
	for i, w := range widths {
		if w != "1280" {
			t.Fatalf("frame %d of %d is %s wide, want 1280", i, len(widths), w)
		}
	}
	if len(widths) < 90 {
		t.Errorf("%d frames decoded, want at least 3 s at 30 fps", len(widths))
	}
	want := time.Duration(f.Duration).Seconds()
	if got := testkit.MediaSpan(t, f.Location, "v:0"); want < 3 || got < want-0.5 || got > want+0.5 {
		t.Errorf("%s lasts %.2f s, recorded for %.2f s", f.Filename, got, want)
	}
	decodes(t, f.Location, false)
}
