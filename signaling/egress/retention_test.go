package egress

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
)

// A sweep deletes the recordings that ended longer ago than the retention period, here and from
// ListEgress, and leaves newer ones, recordings in progress and what is not a recording.
func TestRetentionDeletesOnlyExpiredRecordings(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	mkRecording := func(name string, age time.Duration) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(p, "track.ogg")
		if err := os.WriteFile(f, []byte("media"), 0o644); err != nil {
			t.Fatal(err)
		}
		old := now.Add(-age)
		for _, x := range []string{f, p} {
			if err := os.Chtimes(x, old, old); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	expired := mkRecording("EG_expired", 31*24*time.Hour)
	recent := mkRecording("EG_recent", 29*24*time.Hour)
	running := mkRecording("EG_running", 40*24*time.Hour) // a long recording still in progress
	other := mkRecording("operator-notes", 90*24*time.Hour)

	// Swept by hand: the service's own sweeper would run before the jobs below exist.
	s := New(Config{Dir: dir, Logger: slog.New(slog.DiscardHandler)}, nil)
	s.cfg.Retention = 30 * 24 * time.Hour
	defer func() {
		clear(s.jobs) // the jobs above have no recorder to stop
		s.Close()
	}()
	s.jobs["EG_running"] = &job{s: s, info: &livekit.EgressInfo{EgressId: "EG_running", Status: livekit.EgressStatus_EGRESS_ACTIVE}}
	s.jobs["EG_expired"] = &job{s: s, info: &livekit.EgressInfo{EgressId: "EG_expired", Status: livekit.EgressStatus_EGRESS_COMPLETE,
		EndedAt: now.Add(-31 * 24 * time.Hour).UnixNano()}}
	s.jobs["EG_recent"] = &job{s: s, info: &livekit.EgressInfo{EgressId: "EG_recent", Status: livekit.EgressStatus_EGRESS_COMPLETE,
		EndedAt: now.Add(-29 * 24 * time.Hour).UnixNano()}}

	s.sweep(now)

	for p, want := range map[string]bool{expired: false, recent: true, running: true, other: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	var listed []string
	for _, i := range s.list("", "", false) {
		listed = append(listed, i.EgressId)
	}
	if len(listed) != 2 || s.jobs["EG_expired"] != nil {
		t.Errorf("ListEgress after the sweep: %v, want EG_recent and EG_running", listed)
	}
}
