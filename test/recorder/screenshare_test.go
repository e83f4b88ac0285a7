package recorder_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/recorder"
)

// Two participants publish cameras (VP8 and H.264 of testsrc2, grey on average) and one of them a
// microphone; a room composite records them while that one shares a plain red screen (a colour no
// camera shows) for about 5 s in the middle, then stops sharing. In the composite, the middle of the
// stage is red all through the share and a camera's picture before and after it; both cameras'
// tiles are lit in the strip throughout, and the share's own tile is red while it runs.
func TestCompositeShowsScreenShare(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("HOP_TEST_RECORDINGS"); d != "" {
		dir = d // kept for a look after the test
	}
	began := time.Now()
	n := testkit.StartNode(t, func(c *config.Config) { c.Recorder.Dir = dir })
	// The SDK's file tracks do not loop: the microphone and cameras outlast the recording, the
	// screen its share. Small pictures: this machine is shared.
	clips := t.TempDir()
	mic := filepath.Join(clips, "mic.ogg")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=24", "-c:a", "libopus", "-b:a", "48k",
		"-frame_duration", "20", "-page_duration", "20000", mic)
	anhCam := testkit.EncodeVP8(t, clips, "cam", "testsrc2=size=640x360:rate=30:duration=24", "500k")
	screen := testkit.EncodeVP8(t, clips, "screen", "color=c=red:size=640x360:rate=30:duration=12", "200k")
	ctx := context.Background()
	const room = "share"

	anh := join(t, n, room, "anh")
	bob := join(t, n, room, "bob")
	publish(t, anh, mic, 20*time.Millisecond, "mic", 0, 0)
	publish(t, anh, anhCam, 33*time.Millisecond, "cam", 640, 360)
	publish(t, bob, oneSliceH264(t, 24), 33*time.Millisecond, "cam", 640, 360)
	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	rs := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	waitNodeTracks(ctx, t, rs, room, 3)

	comp, err := ec.StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: room})
	if err != nil {
		t.Fatalf("start composite egress: %v", err)
	}
	recording := time.Now()
	time.Sleep(4 * time.Second) // the cameras alone, before the share
	shareOn := time.Now()
	tr, err := lksdk.NewLocalFileTrack(screen, lksdk.ReaderTrackWithFrameDuration(33*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := anh.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: "screen",
		Source: livekit.TrackSource_SCREEN_SHARE, VideoWidth: 640, VideoHeight: 360})
	if err != nil {
		t.Fatalf("publish the screen: %v", err)
	}
	waitNodeTracks(ctx, t, rs, room, 4)
	shareSeen := time.Now()
	time.Sleep(5 * time.Second) // the share runs
	if err := anh.LocalParticipant.UnpublishTrack(pub.SID()); err != nil {
		t.Fatalf("unpublish the screen: %v", err)
	}
	shareOff := time.Now()
	time.Sleep(3 * time.Second) // the cameras alone again
	if _, err := ec.StopEgress(ctx, &livekit.StopEgressRequest{EgressId: comp.EgressId}); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	ce := waitComplete(ctx, t, ec, room, 1, 90*time.Second)[comp.EgressId]
	t.Logf("media made and tracks at the node in %.1f s, recorded %.1f s, composed in %.1f s",
		recording.Sub(began).Seconds(), stopped.Sub(recording).Seconds(), time.Since(stopped).Seconds())
	if ce == nil || ce.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(ce.FileResults) != 1 {
		t.Fatalf("composite egress: %v", ce)
	}
	man, err := recorder.ReadManifest(ce.ManifestLocation)
	if err != nil {
		t.Fatal(err)
	}
	file := ce.FileResults[0].Location
	if got := probe(t, file, "v:0", "stream=codec_name,width,height"); got != "h264\n1280\n720" {
		t.Fatalf("composite video: %q", got)
	}
	decodes(t, file, false)

	// The share's track in the manifest: its file spans the time it was shared, as the test saw it.
	lay := compositeLayout(man, 1280, 720)
	var share *recorder.ManifestTrack
	for _, v := range lay.videos {
		if v.Source == livekit.TrackSource_SCREEN_SHARE.String() {
			share = v
		}
	}
	if share == nil || len(lay.videos) != 3 {
		t.Fatalf("manifest videos %v, want two cameras and a screen share", lay.videos)
	}
	at := func(w time.Time) float64 { return w.Sub(lay.t0).Seconds() - lay.lead } // wall clock to composite time
	t.Logf("composite lasts %.2f s (lead %.2f s trimmed); shared from %.2f s (published %.2f s, at the node %.2f s) to %.2f s (unpublished %.2f s)",
		testkit.MediaSpan(t, file, "v:0"), lay.lead, at(share.Start), at(shareOn), at(shareSeen), at(share.End), at(shareOff))
	if d := share.Start.Sub(shareOn); d < 0 || d > 3*time.Second {
		t.Errorf("the share's file starts %v after it was published", d)
	}
	if d := share.End.Sub(shareOff); d.Abs() > time.Second {
		t.Errorf("the share's file ends %v from when it was unpublished", d)
	}

	// The middle of the stage, the middle of each strip tile, four times a second.
	regions := []string{"640:360:320:90"} // inside a 16:9 picture fitted to the stage, clear of its name
	for _, v := range lay.videos {
		x, y, w, h := lay.tile[v][0], lay.tile[v][1], lay.tile[v][2], lay.tile[v][3]
		regions = append(regions, fmt.Sprintf("%d:%d:%d:%d", w/2, h/2, x+w/4, y+h/4))
	}
	samples := sampleColours(t, file, 4, regions)
	start, _ := strconv.ParseFloat(probe(t, file, "v:0", "stream=start_time"), 64)
	end := start + testkit.MediaSpan(t, file, "v:0")
	// Each sample is the frame nearest its time, and the stage switches on a frame: half a second
	// either side of a change is left unjudged.
	const margin = 0.5
	// During: while the manifest has the share and the test had it at the node; outside: neither.
	in0, in1 := max(at(share.Start), at(shareSeen))+margin, min(at(share.End), at(shareOff))-margin
	out0, out1 := min(at(shareOn), at(share.Start))-margin, max(at(shareOff), at(share.End))+margin
	var stage, tiles strings.Builder
	var nIn, nBefore, nAfter, nBoth int
	var sumIn, sumOut [3]int // the stage's colour, to report
	for k, s := range samples {
		ts := start + float64(k)/4
		stage.WriteByte(s[0].class())
		tiles.WriteByte(' ')
		for _, c := range s[1:] {
			tiles.WriteByte(c.class())
		}
		if ts < start+margin || ts > end-margin {
			continue
		}
		// A file starts at its track's first keyframe: a camera counts from then.
		runs := func(v *recorder.ManifestTrack) bool { return ts >= at(v.Start)+margin && ts <= at(v.End)-margin }
		cameraRuns := false
		for _, v := range lay.videos {
			cameraRuns = cameraRuns || v != share && runs(v)
		}
		switch {
		case ts >= in0 && ts <= in1:
			nIn++
			for i := range 3 {
				sumIn[i] += int(s[0][i])
			}
			if !s[0].red() {
				t.Errorf("at %.2f s, during the share, the stage is %v, want the share's red", ts, s[0])
			}
			if c := s[1+lay.index(share)]; !c.red() {
				t.Errorf("at %.2f s the share's tile is %v, want red", ts, c)
			}
		case (ts < out0 || ts > out1) && cameraRuns:
			when := "after"
			if ts < out0 {
				nBefore++
				when = "before"
			} else {
				nAfter++
			}
			for i := range 3 {
				sumOut[i] += int(s[0][i])
			}
			if !s[0].camera() {
				t.Errorf("at %.2f s, %s the share, the stage is %v, want a camera", ts, when, s[0])
			}
		}
		both := true
		for i, v := range lay.videos {
			switch {
			case v == share:
			case !runs(v):
				both = false
			case !s[1+i].camera():
				t.Errorf("at %.2f s %s's camera tile is %v, want its picture", ts, v.Participant, s[1+i])
			}
		}
		if both {
			nBoth++
		}
	}
	t.Logf("stage, every 0.25 s (S share red, C camera, K black): %s", stage.String())
	var names []string
	for _, v := range lay.videos {
		names = append(names, fmt.Sprintf("%s %s from %.2f s", v.Participant, v.Source, at(v.Start)))
	}
	t.Logf("strip tiles (%s), every 0.25 s:%s", strings.Join(names, ", "), tiles.String())
	t.Logf("samples: %d during the share (%.2f–%.2f s), %d before, %d after, %d with both cameras; the stage's mean colour during rgb%v, outside rgb%v",
		nIn, in0, in1, nBefore, nAfter, nBoth, meanOf(sumIn, nIn), meanOf(sumOut, nBefore+nAfter))
	if nIn < 8 || nBefore < 4 || nAfter < 4 || nBoth < 20 {
		t.Errorf("too few samples: %d during the share, %d before, %d after, %d with both cameras", nIn, nBefore, nAfter, nBoth)
	}
}

// waitNodeTracks waits until the node lists want tracks in the room: it lists a track once its
// media arrived, and no event tells a test when.
func waitNodeTracks(ctx context.Context, t *testing.T, rs *lksdk.RoomServiceClient, room string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ps, err := rs.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: room})
		nt := 0
		if err == nil {
			for _, p := range ps.Participants {
				nt += len(p.Tracks)
			}
		}
		if nt == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node has %d of %d tracks", nt, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// layout is where recorder.Composite puts things, worked out from the manifest as it does: its
// time 0 is t0 (the earliest track's start) plus lead (trimmed leading silence), and each video
// has a strip tile (x, y, w, h) by participant and source in manifest order.
type layout struct {
	t0     time.Time
	lead   float64
	videos []*recorder.ManifestTrack
	tile   map[*recorder.ManifestTrack][4]int
}

func (l layout) index(v *recorder.ManifestTrack) int {
	for i, u := range l.videos {
		if u == v {
			return i
		}
	}
	return -1
}

func compositeLayout(m recorder.Manifest, w, h int) layout {
	l := layout{tile: map[*recorder.ManifestTrack][4]int{}}
	var audios []*recorder.ManifestTrack
	for _, tr := range m.Tracks {
		if tr.File == "" || tr.Frames == 0 {
			continue
		}
		if _, err := os.Stat(tr.File); err != nil {
			continue
		}
		if l.t0.IsZero() || tr.Start.Before(l.t0) {
			l.t0 = tr.Start
		}
		if strings.HasPrefix(tr.Codec, "video/") {
			l.videos = append(l.videos, tr)
		} else {
			audios = append(audios, tr)
		}
	}
	var firstTalk time.Time
	for _, a := range audios {
		if len(a.Speaking) > 0 && (firstTalk.IsZero() || a.Speaking[0].Start.Before(firstTalk)) {
			firstTalk = a.Speaking[0].Start
		}
	}
	if !firstTalk.IsZero() {
		l.lead = max(0, firstTalk.Sub(l.t0).Seconds()-1)
		for _, v := range l.videos {
			l.lead = min(l.lead, v.Start.Sub(l.t0).Seconds())
		}
	}
	slots := map[string]int{}
	for _, v := range l.videos {
		if _, ok := slots[v.Participant+"\x00"+v.Source]; !ok {
			slots[v.Participant+"\x00"+v.Source] = len(slots)
		}
	}
	stageH := h * 3 / 4
	tileW := w / max(4, len(slots))
	tileH := min(h-stageH, tileW*9/16)
	for _, v := range l.videos {
		l.tile[v] = [4]int{slots[v.Participant+"\x00"+v.Source] * tileW, stageH + (h-stageH-tileH)/2, tileW, tileH}
	}
	return l
}

// rgb is a region's average colour.
type rgb [3]uint8

func (c rgb) red() bool    { return c[0] >= 180 && c[1] <= 70 && c[2] <= 70 }
func (c rgb) dark() bool   { return max(c[0], c[1], c[2]) <= 30 }
func (c rgb) camera() bool { return !c.red() && !c.dark() && (int(c[0])+int(c[1])+int(c[2]))/3 >= 40 }

func (c rgb) class() byte {
	switch {
	case c.red():
		return 'S'
	case c.camera():
		return 'C'
	case c.dark():
		return 'K'
	}
	return '?'
}

func (c rgb) String() string { return fmt.Sprintf("rgb(%d,%d,%d)", c[0], c[1], c[2]) }

// sampleColours decodes file once and returns, for each frame at fps, the average colour of each
// region (an ffmpeg crop w:h:x:y). Each region is averaged in RGB: 1x1 pictures in 4:2:0, stacked,
// would share their chroma.
func sampleColours(t *testing.T, file string, fps int, regions []string) [][]rgb {
	t.Helper()
	n := len(regions)
	graph := fmt.Sprintf("[0:v]fps=%d,split=%d", fps, n)
	for i := range n {
		graph += fmt.Sprintf("[s%d]", i)
	}
	var stack string
	for i, r := range regions {
		graph += fmt.Sprintf(";[s%d]crop=%s,format=rgb24,scale=1:1:flags=area[r%d]", i, r, i)
		stack += fmt.Sprintf("[r%d]", i)
	}
	if n > 1 {
		graph += fmt.Sprintf(";%shstack=inputs=%d[out]", stack, n)
	} else {
		graph += ";[r0]null[out]"
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-filter_complex", graph, "-map", "[out]",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) == 0 || len(out)%(3*n) != 0 {
		t.Fatalf("sample %s: %d bytes, %v", file, len(out), err)
	}
	var frames [][]rgb
	for f := 0; f+3*n <= len(out); f += 3 * n {
		row := make([]rgb, n)
		for i := range row {
			copy(row[i][:], out[f+3*i:])
		}
		frames = append(frames, row)
	}
	return frames
}

func meanOf(sum [3]int, n int) [3]int {
	if n == 0 {
		return sum
	}
	return [3]int{sum[0] / n, sum[1] / n, sum[2] / n}
}
