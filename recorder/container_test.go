package recorder

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Frames less than a millisecond apart get distinct, increasing block times in a Matroska file:
// demuxers reject a timestamp that does not increase.
func TestMKVTimesIncrease(t *testing.T) {
	file := filepath.Join(t.TempDir(), "v.webm")
	m, err := newMKV(file, "V_VP8", nil, 64, 64, false)
	if err != nil {
		t.Fatal(err)
	}
	// A VP8 keyframe header (64x64) is enough for the container; nothing decodes it here.
	key := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x00, 0x40, 0x00}
	for _, ms := range []int64{0, 33, 33, 66} {
		if err := m.write(&frame{ms: ms, key: true, data: key}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=pts", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	if got := strings.Join(strings.Fields(string(out)), " "); got != "0 33 34 66" {
		t.Errorf("block times %q, want 0 33 34 66", got)
	}
}
