package recorder

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkComposite4 composes a 4-person meeting of compositeSeconds (four 720p VP8 cameras,
// four Opus microphones, each speaking in turn) with the node's settings (2 threads, niced), and
// reports how many seconds of meeting it composes per second of wall time (x-realtime).
func BenchmarkComposite4(b *testing.B) {
	const compositeSeconds = 6
	dir := b.TempDir()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	end := t0.Add(compositeSeconds * time.Second)
	m := Manifest{ID: "EG_bench", Room: "giao-ban", Start: t0, End: &end, Participants: map[string]*ManifestParticipant{}}
	for i, name := range []string{"Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thu Dung"} {
		id := fmt.Sprintf("p%d", i)
		video, audio := filepath.Join(dir, id+".webm"), filepath.Join(dir, id+".ogg")
		ffmpeg(b, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1280x720:rate=30,hue=H=%d", i*60), "-t", fmt.Sprint(compositeSeconds),
			"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "800k", "-g", "30", video)
		ffmpeg(b, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000", 300+100*i), "-t", fmt.Sprint(compositeSeconds),
			"-c:a", "libopus", "-b:a", "32k", audio)
		m.Participants[id] = &ManifestParticipant{Identity: id, Name: name, SID: "PA_" + id, Sessions: []Interval{{Start: t0, End: &end}}}
		// Each speaks for a quarter of the meeting: the stage changes hands three times.
		from := t0.Add(time.Duration(i) * compositeSeconds * time.Second / 4)
		to := from.Add(compositeSeconds * time.Second / 4)
		m.Tracks = append(m.Tracks,
			&ManifestTrack{SID: "TR_v" + id, Participant: id, Kind: "VIDEO", Source: "CAMERA", Published: t0,
				TrackResult: TrackResult{File: video, Codec: "video/VP8", Start: t0, End: end, Frames: 30 * compositeSeconds}},
			&ManifestTrack{SID: "TR_a" + id, Participant: id, Kind: "AUDIO", Source: "MICROPHONE", Published: t0,
				TrackResult: TrackResult{File: audio, Codec: "audio/opus", Start: t0, End: end, Frames: 50 * compositeSeconds,
					Speaking: []Interval{{Start: from, End: &to}}}})
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		out := filepath.Join(dir, fmt.Sprintf("composite-%d.mp4", i))
		if err := Composite(context.Background(), m, CompositeParams{Output: out, Threads: 2}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*compositeSeconds)/time.Since(start).Seconds(), "x-realtime")
}

func ffmpeg(b *testing.B, args ...string) {
	b.Helper()
	out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
}
