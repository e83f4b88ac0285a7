package egress

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/livekit/protocol/utils/guid"

	"github.com/hop-meet/hop/recorder"
)

// uploadedMark, in a recording's directory, says its files are in the store.
const uploadedMark = ".uploaded"

// uploadPending puts in the store the recordings a previous run of the node left without
// uploading them: an upload cut short, or a node killed while recording (its files play up to
// their last seconds). It runs once, at start, over the directories there were before this run
// recorded anything.
func (s *Service) uploadPending(entries []os.DirEntry) {
	defer s.wg.Done()
	for _, e := range entries {
		if s.ctx.Err() != nil {
			return
		}
		if !e.IsDir() || !strings.HasPrefix(e.Name(), guid.EgressPrefix) {
			continue
		}
		dir := filepath.Join(s.cfg.Dir, e.Name())
		if _, err := os.Stat(filepath.Join(dir, uploadedMark)); err == nil {
			continue
		}
		if s.inProgress(e.Name(), dir) {
			continue // another node records it still (storage every node shares)
		}
		if err := s.uploadDir(e.Name(), dir); err != nil {
			s.log.Warn("pending uploads: a recording could not be uploaded; the next start tries again", "dir", dir, "err", err)
			continue
		}
		s.log.Info("pending uploads: uploaded a recording left by a previous run", "dir", dir)
	}
}

// uploadDir uploads a recording's files and manifest as the end of a recording does, then marks it.
func (s *Service) uploadDir(id, dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json")) // #nosec G304 -- a recording directory this node made, found by listing its own recordings directory
	if err != nil {
		return err
	}
	var m recorder.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	files := []string{filepath.Join(dir, compositeFile), filepath.Join(dir, compositeAudioFile)}
	for _, t := range m.Tracks {
		if t.File != "" {
			files = append(files, t.File)
		}
	}
	files = append(files, filepath.Join(dir, "manifest.json"))
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Minute)
	defer cancel()
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			continue // a composite never made, a track file never begun
		}
		if _, err := s.cfg.Store.Put(ctx, id+"/"+filepath.Base(f), f); err != nil {
			return err
		}
	}
	return markUploaded(dir)
}

func markUploaded(dir string) error {
	return os.WriteFile(filepath.Join(dir, uploadedMark), nil, 0o600)
}

// inProgress says whether the ledger holds recording id (in dir) as still being recorded.
func (s *Service) inProgress(id, dir string) bool {
	if s.cfg.Ledger == nil {
		return false
	}
	m, err := recorder.ReadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(s.ctx, ledgerTimeout)
	defer cancel()
	entries, err := s.cfg.Ledger.Entries(ctx, m.Room)
	if err != nil {
		return true // unknown: the next start tries again
	}
	_, ok := entries[id]
	return ok
}
