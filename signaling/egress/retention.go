package egress

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
)

// retain deletes what recordings leave behind once it is older than the retention period: their
// directories here, their objects in the store, and finished egresses from ListEgress. It runs
// until the service closes.
func (s *Service) retain() {
	defer s.wg.Done()
	// A sweep costs a directory listing (and a bucket listing): often enough that nothing
	// outlives its period by much, rarely enough to cost nothing.
	every := min(max(s.cfg.Retention/24, time.Minute), time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sweep(time.Now())
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweep deletes what ended before now minus the retention period.
func (s *Service) sweep(now time.Time) {
	cutoff := now.Add(-s.cfg.Retention)
	active := map[string]bool{}
	s.mu.Lock()
	for id, j := range s.jobs {
		i := j.snapshot()
		if i.Status <= livekit.EgressStatus_EGRESS_ENDING {
			active[id] = true
		} else if time.Unix(0, i.EndedAt).Before(cutoff) {
			delete(s.jobs, id)
		}
	}
	s.mu.Unlock()

	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil && !os.IsNotExist(err) {
		s.log.Warn("recording retention: cannot list the recordings", "dir", s.cfg.Dir, "err", err)
	}
	for _, e := range entries {
		// Only what a recording made: the directory may hold other things.
		if !e.IsDir() || !strings.HasPrefix(e.Name(), guid.EgressPrefix) || active[e.Name()] {
			continue
		}
		dir := filepath.Join(s.cfg.Dir, e.Name())
		if last, ok := lastWritten(dir); !ok || !last.Before(cutoff) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			s.log.Warn("recording retention: cannot delete a recording", "dir", dir, "err", err)
			continue
		}
		s.log.Info("recording retention: deleted a recording", "dir", dir)
	}

	if s.cfg.Store != nil {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Minute)
		n, err := s.cfg.Store.DeleteOlder(ctx, cutoff)
		cancel()
		if err != nil {
			s.log.Warn("recording retention: cannot clear the store", "err", err)
		}
		if n > 0 {
			s.log.Info("recording retention: deleted stored files", "files", n)
		}
	}
}

// lastWritten is when anything in dir was last written: a recording is as old as its newest file.
func lastWritten(dir string) (time.Time, bool) {
	var last time.Time
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
		return nil
	})
	return last, err == nil && !last.IsZero()
}
