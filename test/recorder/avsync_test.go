package recorder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/recorder"
	"github.com/hop-meet/hop/test/browser"
)

// The recording's own sync target: a flash and its beep no further apart than this.
const syncLimit = 0.100

// Two participants publish known media (a flash and a beep at each whole second): Chromium a VP8
// simulcast camera and a microphone from fake capture files, server-sdk-go an H.264 camera and an
// Opus microphone. A room composite and a track egress record about 20 s. The per-track files have
// the right codec, size and length; the composite plays, shows both cameras, holds both
// participants' beeps, and each participant's flashes line up with their beeps within 100 ms.
func TestRecordingAVSync(t *testing.T) {
	if _, err := browser.Dir(); err != nil {
		t.Fatalf("browser harness: %v", err)
	}
	dir := t.TempDir()
	if d := os.Getenv("HOP_TEST_RECORDINGS"); d != "" {
		dir = d // kept for a look after the test
	}
	n := testkit.StartNode(t, func(c *config.Config) { c.Recorder.Dir = dir })
	const sdkW, sdkH = 480, 270
	// Chromium loops its capture files; the SDK's publisher loops its own.
	m := makeAVMedia(t, 20, 1000, 2000, sdkW, sdkH)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	h, err := browser.Start(ctx, browser.Spec{URL: n.URL(), ExpectWidth: 640, ExpectHeight: 360,
		ChromiumArgs: []string{"--use-file-for-fake-video-capture=" + m.Y4M, "--use-file-for-fake-audio-capture=" + m.WAV},
		Participants: []browser.Participant{{Identity: "chromium", Token: n.Token(t, "avsync", "chromium"),
			TimelineMs: 100000, SampleMs: 500, RawAudio: true}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Stop(); _, _ = h.Wait() })
	sdk := join(t, n, "avsync", "sdk")
	publishInSync(ctx, t, sdk, m, sdkW, sdkH)

	// Record once Chromium sends its top layer (its bandwidth estimate ramps up first) and the node
	// has all four tracks.
	if err := h.WaitUntil(ctx, 40*time.Second, func() bool {
		tl := h.Timeline("chromium")
		if len(tl) < 2 {
			return false
		}
		a, b := tl[len(tl)-2].Local, tl[len(tl)-1].Local
		for _, l := range b.Video {
			if p := a.Layer(l.RID); l.FrameWidth == 640 && p != nil && l.FramesSent > p.FramesSent {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("Chromium does not send its 640x360 layer: %v\n%s", err, h.Stderr())
	}
	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	rs := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	var chromiumCam string
	deadline := time.Now().Add(20 * time.Second)
	for { // no event reaches a test when the node has a track's media
		ps, err := rs.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "avsync"})
		nt := 0
		if err == nil {
			for _, p := range ps.Participants {
				nt += len(p.Tracks)
				for _, tr := range p.Tracks {
					if p.Identity == "chromium" && tr.Type == livekit.TrackType_VIDEO {
						chromiumCam = tr.Sid
					}
				}
			}
		}
		if nt == 4 && chromiumCam != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node has %d of 4 tracks", nt)
		}
		time.Sleep(100 * time.Millisecond)
	}

	comp, err := ec.StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: "avsync"})
	if err != nil {
		t.Fatalf("start composite egress: %v", err)
	}
	started := time.Now()
	trackEg, err := ec.StartTrackEgress(ctx, &livekit.TrackEgressRequest{RoomName: "avsync", TrackId: chromiumCam})
	if err != nil {
		t.Fatalf("start track egress: %v", err)
	}
	time.Sleep(20 * time.Second) // the media to record
	stopped := time.Now()
	for _, id := range []string{comp.EgressId, trackEg.EgressId} {
		if _, err := ec.StopEgress(ctx, &livekit.StopEgressRequest{EgressId: id}); err != nil {
			t.Fatalf("stop %s: %v", id, err)
		}
	}
	// The window the test let media flow into the recording: the composite's tracks from its
	// start, the track egress from a moment later.
	window := stopped.Sub(started).Seconds()
	done := waitComplete(ctx, t, ec, "avsync", 2, 60*time.Second)
	_ = h.Stop()

	te := done[trackEg.EgressId]
	if te.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(te.FileResults) != 1 {
		t.Fatalf("track egress: %v", te)
	}
	if got := probe(t, te.FileResults[0].Location, "v:0", "stream=codec_name,width,height"); got != "vp8\n640\n360" {
		t.Errorf("track egress %s: %q, want vp8 640x360", te.FileResults[0].Filename, got)
	}
	if got := testkit.MediaSpan(t, te.FileResults[0].Location, "v:0"); math.Abs(got-window) > 0.5 {
		t.Errorf("track egress %s lasts %.2f s, media flowed into it for %.2f s", te.FileResults[0].Filename, got, window)
	}
	ce := done[comp.EgressId]
	if ce.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(ce.FileResults) != 1 {
		t.Fatalf("composite egress: %v", ce)
	}
	raw, err := os.ReadFile(ce.ManifestLocation)
	if err != nil {
		t.Fatal(err)
	}
	var man recorder.Manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}

	// Per-track files: codec, size and length; then, per participant, flash against beep on the
	// wall clock the manifest gives each file's start.
	want := map[string]string{"chromium/VIDEO": "vp8\n640\n360", "chromium/AUDIO": "opus",
		"sdk/VIDEO": fmt.Sprintf("h264\n%d\n%d", sdkW, sdkH), "sdk/AUDIO": "opus"}
	byKey := map[string]*recorder.ManifestTrack{}
	for _, tr := range man.Tracks {
		key := tr.Participant + "/" + tr.Kind
		byKey[key] = tr
		stream, entries := "v:0", "stream=codec_name,width,height"
		if tr.Kind == "AUDIO" {
			stream, entries = "a:0", "stream=codec_name"
		}
		if got := probe(t, tr.File, stream, entries); got != want[key] {
			t.Errorf("%s: %q, want %q", tr.File, got, want[key])
		}
		got := testkit.MediaSpan(t, tr.File, stream)
		t.Logf("%s: %.2f s (recorded from %.2f s after the egress started, by %s, %+.1f ms from the first frame's arrival), window %.2f s",
			key, got, tr.Start.Sub(started).Seconds(), tr.StartFrom, float64(tr.Start.Sub(tr.ArrivalStart).Microseconds())/1000, window)
		if math.Abs(got-window) > 0.5 {
			t.Errorf("%s lasts %.2f s, media flowed into the recording for %.2f s", key, got, window)
		}
		decodes(t, tr.File, false)
	}
	if len(byKey) != 4 {
		t.Fatalf("manifest tracks %v, want both participants' camera and microphone", byKey)
	}
	beepHz := map[string]float64{"chromium": 1000, "sdk": 2000}
	for _, who := range []string{"chromium", "sdk"} {
		v, a := byKey[who+"/VIDEO"], byKey[who+"/AUDIO"]
		fl := flashes(t, v.File, "")
		shiftFlashes(fl, v.Start.Sub(started).Seconds())
		bp := shift(beeps(t, a.File, beepHz[who]), a.Start.Sub(started).Seconds())
		checkSync(t, who+" per-track files", fl, bp, window, who == "chromium")
	}

	// The composite: H.264 and AAC, as long as the recording, decoding cleanly.
	comp0 := ce.FileResults[0].Location
	if got := probe(t, comp0, "v:0", "stream=codec_name"); got != "h264" {
		t.Errorf("composite video: %q", got)
	}
	if got := probe(t, comp0, "a:0", "stream=codec_name"); got != "aac" {
		t.Errorf("composite audio: %q", got)
	}
	decodes(t, comp0, false)
	// A beep every second leaves no leading silence to trim: the composite covers the window.
	if got := testkit.MediaSpan(t, comp0, "v:0"); math.Abs(got-window) > 0.5 {
		t.Errorf("composite lasts %.2f s, media flowed into the recording for %.2f s", got, window)
	}
	// Both cameras are in the strip below the stage: each tile flashes, and each flash meets its
	// participant's beep (by its pitch) in the mixed audio.
	tiles := stripTiles(man, 1280, 720)
	for _, who := range []string{"chromium", "sdk"} {
		crop, ok := tiles[who]
		if !ok {
			t.Errorf("composite has no tile for %s: %v", who, tiles)
			continue
		}
		fl := flashes(t, comp0, crop)
		bp := beeps(t, comp0, beepHz[who])
		checkSync(t, who+" composite", fl, bp, window, who == "chromium")
	}
}

// checkSync pairs flashes with beeps (both in seconds from the recording's start) and reports the
// offsets, as recorded and less the source's capture lag (see flashes). Most pairs and their
// median must be within syncLimit: less the lag where the camera may lag (Chromium's file camera),
// as recorded otherwise (the SDK's frames are paced from one clock with the audio: a lag there
// would be the recording's). Both must come about once a second through the window.
func checkSync(t *testing.T, what string, fl []flash, bp []float64, window float64, cameraLags bool) {
	t.Helper()
	var raw, fixed []float64
	for _, f := range fl {
		raw = append(raw, f.at)
		if !math.IsNaN(f.lag) {
			fixed = append(fixed, f.at-f.lag)
		}
	}
	rawOff, rawMedian, rawWorst := syncStats(raw, bp)
	t.Logf("%s: %d flashes, %d beeps; as recorded: flash − beep median %+.0f ms, max |%.0f| ms, %d of %d within %.0f ms; offsets (ms) %s",
		what, len(fl), len(bp), rawMedian*1000, rawWorst*1000, within(rawOff, syncLimit), len(rawOff), syncLimit*1000, msList(rawOff))
	offsets, median, worst := syncStats(fixed, bp)
	t.Logf("%s: less the capture lag: median %+.0f ms, max |%.0f| ms, %d of %d within %.0f ms; offsets (ms) %s",
		what, median*1000, worst*1000, within(offsets, syncLimit), len(offsets), syncLimit*1000, msList(offsets))
	if !cameraLags {
		offsets, median = rawOff, rawMedian
	}
	if least := int(window) - 2; len(offsets) < least || len(bp) < least {
		t.Errorf("%s: %d flashes paired with %d beeps in %.1f s, want at least %d", what, len(offsets), len(bp), window, least)
	}
	if len(offsets) == 0 {
		return
	}
	if math.Abs(median) >= syncLimit || within(offsets, syncLimit) < len(offsets)*9/10 {
		t.Errorf("%s: picture and sound out of sync: median %+.0f ms, %d of %d pairs within %.0f ms",
			what, median*1000, within(offsets, syncLimit), len(offsets), syncLimit*1000)
	}
}

func shift(ts []float64, by float64) []float64 {
	for i := range ts {
		ts[i] += by
	}
	return ts
}

func shiftFlashes(fl []flash, by float64) {
	for i := range fl {
		fl[i].at += by
	}
}

func msList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%+.0f", x*1000)
	}
	return strings.Join(s, " ")
}

// stripTiles finds each participant's camera tile in a composite of w x h: the strip below the
// stage (recorder.Composite's layout) has one tile per camera in manifest order.
func stripTiles(m recorder.Manifest, w, h int) map[string]string {
	var cams []*recorder.ManifestTrack
	for _, tr := range m.Tracks {
		if tr.Kind == "VIDEO" && tr.File != "" && tr.Frames > 0 {
			cams = append(cams, tr)
		}
	}
	stageH := h * 3 / 4
	tileW := w / max(4, len(cams))
	tileH := min(h-stageH, tileW*9/16)
	out := map[string]string{}
	for i, c := range cams {
		out[c.Participant] = fmt.Sprintf("%d:%d:%d:%d", tileW, tileH, i*tileW, stageH+(h-stageH-tileH)/2)
	}
	return out
}

// waitComplete polls the room's egresses until want of them have ended.
func waitComplete(ctx context.Context, t *testing.T, ec *lksdk.EgressClient, room string, want int, timeout time.Duration) map[string]*livekit.EgressInfo {
	t.Helper()
	done := map[string]*livekit.EgressInfo{}
	deadline := time.Now().Add(timeout)
	for len(done) < want {
		if time.Now().After(deadline) {
			t.Fatalf("egresses not complete: %v", done)
		}
		time.Sleep(200 * time.Millisecond) // EgressInfo updates reach a test only by listing
		list, err := ec.ListEgress(ctx, &livekit.ListEgressRequest{RoomName: room})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range list.Items {
			if i.Status >= livekit.EgressStatus_EGRESS_COMPLETE {
				done[i.EgressId] = i
			}
		}
	}
	return done
}
