package egress

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
	"google.golang.org/protobuf/encoding/protojson"
)

// egressFile holds a recording's EgressInfo in its directory, so that a node started again lists
// the recordings made before it stopped, and finishes one that its crash cut short.
const egressFile = "egress.json"

// persist writes the recording's state to its directory.
func (j *job) persist() {
	b, err := protojson.Marshal(j.snapshot())
	if err == nil {
		err = os.MkdirAll(j.top, 0o750)
	}
	if err == nil {
		tmp := filepath.Join(j.top, egressFile+".tmp")
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, filepath.Join(j.top, egressFile))
		}
	}
	if err != nil {
		j.s.log.Warn("a recording's state was not saved: a restarted node will not list it", "dir", j.top, "err", err)
	}
}

// loadRecorded lists again the recordings in the recordings directory as their egress.json says
// they ended. One still in progress there was cut short by this node's crash: on a node of its
// own it is finished now from what was written; in a cluster, the ledger says who goes on with it.
func (s *Service) loadRecorded() {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		if !os.IsNotExist(err) {
			s.log.Warn("earlier recordings cannot be listed", "dir", s.cfg.Dir, "err", err)
		}
		return
	}
	var cut []*livekit.EgressInfo
	s.mu.Lock()
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || !strings.HasPrefix(id, guid.EgressPrefix) || s.jobs[id] != nil {
			continue
		}
		top := filepath.Join(s.cfg.Dir, id)
		b, err := os.ReadFile(filepath.Join(top, egressFile)) // #nosec G304 -- a file this service wrote, in a directory it lists
		if err != nil {
			continue
		}
		info := &livekit.EgressInfo{}
		if err := protojson.Unmarshal(b, info); err != nil || info.EgressId != id {
			s.log.Warn("a recording's state cannot be read", "dir", top, "err", err)
			continue
		}
		switch {
		case info.Status > livekit.EgressStatus_EGRESS_ENDING:
			_, composite := wantFor(info)
			s.jobs[id] = &job{s: s, composite: composite, top: top, dir: top, info: info}
		case s.cfg.Ledger == nil:
			cut = append(cut, info)
		}
	}
	s.mu.Unlock()
	for _, info := range cut {
		s.log.Info("a recording cut short when this node stopped: finishing it from what was recorded", "egress", info.EgressId, "room", info.RoomName)
		info.Status = livekit.EgressStatus_EGRESS_ENDING
		s.finishEarlier(info, ledgerEntry{Segments: []string{info.EgressId}})
	}
}
