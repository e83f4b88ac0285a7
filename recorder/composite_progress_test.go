package recorder

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadProgress(t *testing.T) {
	in := "frame=1\nout_time_us=N/A\nout_time_us=500000\nprogress=continue\nout_time_us=2000000\nout_time_us=4500000\nprogress=end\n"
	var got []float64
	readProgress(strings.NewReader(in), 4, func(d float64) { got = append(got, d) })
	want := []float64{0.125, 0.5, 1}
	if len(got) != len(want) {
		t.Fatalf("reports %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("reports %v, want %v", got, want)
		}
	}
}

// A composite tells its progress as ffmpeg writes it, ending at the whole.
func TestCompositeReportsProgress(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("ffmpeg (installed by make test): %v", err)
	}
	dir := t.TempDir()
	video := filepath.Join(dir, "cam.webm")
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15",
		"-t", "3", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", video).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	end := t0.Add(3 * time.Second)
	m := Manifest{ID: "EG_p", Room: "r", Start: t0, End: &end, Participants: map[string]*ManifestParticipant{
		"a": {Identity: "a", Name: "An", Sessions: []Interval{{Start: t0, End: &end}}}},
		Tracks: []*ManifestTrack{{SID: "TR_v", Participant: "a", Kind: "VIDEO", Source: "CAMERA", Published: t0,
			TrackResult: TrackResult{File: video, Codec: "video/VP8", Start: t0, End: end, Frames: 45}}}}
	var got []float64
	if err := Composite(context.Background(), m, CompositeParams{Output: filepath.Join(dir, "c.mp4"), Threads: 1,
		Progress: func(d float64) { got = append(got, d) }}); err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[len(got)-1] < 0.9 {
		t.Fatalf("progress reported %v, want it to reach the whole", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Fatalf("progress went back: %v", got)
		}
	}
}

// A screen share takes the composite's stage while it runs; before and after, the camera has it.
func TestCompositeStagesTheScreenShare(t *testing.T) {
	dir := t.TempDir()
	clip := func(name, src string, seconds int) string {
		f := filepath.Join(dir, name)
		out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", src,
			"-t", fmt.Sprint(seconds), "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k", f).CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		return f
	}
	camera := clip("cam.webm", "color=c=0x00c000:size=640x360:rate=15", 6)    // green
	screen := clip("screen.webm", "color=c=0xd00000:size=640x360:rate=15", 2) // red, shared from 2 s to 4 s
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	end := at(6)
	m := Manifest{ID: "EG_s", Room: "r", Start: t0, End: &end, Participants: map[string]*ManifestParticipant{
		"a": {Identity: "a", Name: "An", Sessions: []Interval{{Start: t0, End: &end}}}},
		Tracks: []*ManifestTrack{
			{SID: "TR_c", Participant: "a", Kind: "VIDEO", Source: "CAMERA", Published: t0,
				TrackResult: TrackResult{File: camera, Codec: "video/VP8", Start: t0, End: end, Frames: 90}},
			{SID: "TR_s", Participant: "a", Kind: "VIDEO", Source: "SCREEN_SHARE", Published: at(2),
				TrackResult: TrackResult{File: screen, Codec: "video/VP8", Start: at(2), End: at(4), Frames: 30}},
		}}
	out := filepath.Join(dir, "c.mp4")
	if err := Composite(context.Background(), m, CompositeParams{Output: out, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	stage := func(sec float64) (r, g, b int) { return stageColour(t, out, sec) }
	for _, c := range []struct {
		sec    float64
		screen bool
	}{{1, false}, {3, true}, {5, false}} {
		r, g, _ := stage(c.sec)
		if red := r > 120 && g < 80; red != c.screen {
			t.Errorf("stage at %.0f s is rgb(%d,%d,·): screen share shown %v, want %v", c.sec, r, g, red, c.screen)
		}
		if green := g > 120 && r < 80; green == c.screen {
			t.Errorf("stage at %.0f s is rgb(%d,%d,·): camera shown %v, want %v", c.sec, r, g, green, !c.screen)
		}
	}
}

// Someone without a camera who speaks has the stage as a card with their name; the camera of the
// one who spoke before and after has it otherwise.
func TestCompositeStagesASpeakerWithoutCamera(t *testing.T) {
	dir := t.TempDir()
	encode := func(name, src string, codec ...string) string {
		f := filepath.Join(dir, name)
		args := append([]string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", src, "-t", "6"}, codec...)
		if out, err := exec.Command("ffmpeg", append(args, f)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
		return f
	}
	camera := encode("cam.webm", "color=c=0x00c000:size=640x360:rate=15", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k")
	voiceA := encode("a.ogg", "sine=frequency=440:sample_rate=48000", "-c:a", "libopus")
	voiceB := encode("b.ogg", "sine=frequency=660:sample_rate=48000", "-c:a", "libopus")
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ptr := func(t time.Time) *time.Time { return &t }
	end := at(6)
	m := Manifest{ID: "EG_v", Room: "r", Start: t0, End: &end, Participants: map[string]*ManifestParticipant{
		"an-1":  {Identity: "an-1", Name: "Nguyễn Văn An", Sessions: []Interval{{Start: t0, End: &end}}},
		"mai-2": {Identity: "mai-2", Name: "Bùi Thị Mai", Sessions: []Interval{{Start: t0, End: &end}}}},
		Tracks: []*ManifestTrack{
			{SID: "TR_c", Participant: "an-1", Kind: "VIDEO", Source: "CAMERA", Published: t0,
				TrackResult: TrackResult{File: camera, Codec: "video/VP8", Start: t0, End: end, Frames: 90}},
			{SID: "TR_a", Participant: "an-1", Kind: "AUDIO", Source: "MICROPHONE", Published: t0,
				TrackResult: TrackResult{File: voiceA, Codec: "audio/opus", Start: t0, End: end, Frames: 300,
					Speaking: []Interval{{Start: at(0), End: ptr(at(2))}, {Start: at(4.5), End: ptr(at(6))}}}},
			{SID: "TR_b", Participant: "mai-2", Kind: "AUDIO", Source: "MICROPHONE", Published: t0,
				TrackResult: TrackResult{File: voiceB, Codec: "audio/opus", Start: t0, End: end, Frames: 300,
					Speaking: []Interval{{Start: at(2), End: ptr(at(4))}}}},
		}}
	out := filepath.Join(dir, "c.mp4")
	if err := Composite(context.Background(), m, CompositeParams{Output: out, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sec  float64
		card bool
	}{{1, false}, {3, true}, {5.5, false}} {
		r, g, b := stageColour(t, out, c.sec)
		green := g > 120 && r < 80
		grey := !green && r > 30 && r < 150 && abs(r-g) < 20 && abs(r-b) < 20
		if green == c.card || grey != c.card {
			t.Errorf("stage at %.1f s is rgb(%d,%d,%d): card %v, want %v", c.sec, r, g, b, grey, c.card)
		}
	}
}

func abs(x int) int { return max(x, -x) }

// stageColour returns the mean colour of the middle of a composite's stage at a time.
func stageColour(t *testing.T, file string, sec float64) (r, g, b int) {
	t.Helper()
	px, err := exec.Command("ffmpeg", "-v", "error", "-ss", fmt.Sprint(sec), "-i", file, "-frames:v", "1",
		"-vf", "crop=iw/2:ih/4:iw/4:ih/4,scale=1:1:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(px) != 3 {
		t.Fatalf("frame at %.1f s: %v %v", sec, px, err)
	}
	return int(px[0]), int(px[1]), int(px[2])
}

// An audio-only composite is the mix alone: one AAC stream as long as the recording.
func TestCompositeAudioOnly(t *testing.T) {
	dir := t.TempDir()
	voice := filepath.Join(dir, "a.ogg")
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "4", "-c:a", "libopus", voice).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	end := t0.Add(4 * time.Second)
	m := Manifest{ID: "EG_a", Room: "r", Start: t0, End: &end, Tracks: []*ManifestTrack{
		{SID: "TR_a", Participant: "an", Kind: "AUDIO", Source: "MICROPHONE", Published: t0,
			TrackResult: TrackResult{File: voice, Codec: "audio/opus", Start: t0, End: end, Frames: 200}}}}
	out := filepath.Join(dir, "c.m4a")
	if err := Composite(context.Background(), m, CompositeParams{Output: out, Threads: 1, AudioOnly: true}); err != nil {
		t.Fatal(err)
	}
	streams, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name", "-of", "csv=p=0", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(streams)); got != "aac,audio" {
		t.Errorf("streams %q, want one AAC audio stream", got)
	}
	if d := mediaDuration(t, out); d < 3.9 || d > 4.1 {
		t.Errorf("lasts %.2f s, want 4", d)
	}
}

func mediaDuration(t *testing.T, file string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatal(err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
