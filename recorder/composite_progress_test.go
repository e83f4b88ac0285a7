package recorder

import (
	"context"
	"os/exec"
	"path/filepath"
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
