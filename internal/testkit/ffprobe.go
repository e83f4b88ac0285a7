package testkit

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// MediaSpan is the time between a stream's first and last packet, read from the packets themselves
// (a file cut short has no duration in its header).
func MediaSpan(t testing.TB, file, stream string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time,duration_time",
		"-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	first, last := -1.0, 0.0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ",")
		pts, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		if first < 0 {
			first = pts
		}
		end := pts
		if len(f) > 1 {
			if d, err := strconv.ParseFloat(f[1], 64); err == nil {
				end += d
			}
		}
		if end > last {
			last = end
		}
	}
	if first < 0 {
		t.Fatalf("%s: no packets", file)
	}
	return last - first
}

// MediaDuration is the file's duration as its container states it.
func MediaDuration(t testing.TB, file string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe %s: duration %q", file, out)
	}
	return d
}
