package egress

import (
	"context"
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"
)

// Ledger keeps the recordings in progress per room where every node finds them (the cluster's
// Redis), so that a room whose node died goes on being recorded by the node it moves to.
type Ledger interface {
	Save(ctx context.Context, room, id string, entry []byte) error
	Remove(ctx context.Context, room, id string) error
	Entries(ctx context.Context, room string) (map[string][]byte, error)
}

// ledgerEntry is a recording in progress as the ledger keeps it.
type ledgerEntry struct {
	// Info is the EgressInfo as the recording began (protobuf): its id, request and start.
	Info    []byte `json:"info"`
	Meeting bool   `json:"meeting,omitempty"`
	// Segments are the directories of its segments so far, relative to the recordings directory.
	Segments []string `json:"segments"`
}

const ledgerTimeout = 2 * time.Second

// keep saves j in the ledger, its own segment last.
func (s *Service) keep(j *job) {
	if s.cfg.Ledger == nil {
		return
	}
	info := j.snapshot()
	info.Status, info.Details, info.ManifestLocation = livekit.EgressStatus_EGRESS_ACTIVE, "", ""
	b, err := proto.Marshal(info)
	if err != nil {
		return
	}
	rel, err := filepath.Rel(s.cfg.Dir, j.dir)
	if err != nil {
		return
	}
	e, err := json.Marshal(ledgerEntry{Info: b, Meeting: j.meeting, Segments: append(append([]string(nil), j.earlier...), rel)})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, ledgerTimeout)
	defer cancel()
	if err := s.cfg.Ledger.Save(ctx, info.RoomName, info.EgressId, e); err != nil {
		s.log.Warn("recording not kept in the ledger: it will not follow its room to another node", "egress", info.EgressId, "err", err)
	}
}

// forget removes an ended recording from the ledger.
func (s *Service) forget(j *job) {
	if s.cfg.Ledger == nil {
		return
	}
	info := j.snapshot()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), ledgerTimeout)
	defer cancel()
	if err := s.cfg.Ledger.Remove(ctx, info.RoomName, info.EgressId); err != nil {
		s.log.Warn("an ended recording stays in the ledger", "egress", info.EgressId, "err", err)
	}
}

// RoomOpened goes on with the recordings of a room that was being recorded on a node that died:
// each as a new segment here, except a track's, which ended with its track and is finished from
// what was recorded. It runs before the room's first join, so that a room made to be recorded
// goes on with its recording rather than starting another.
func (s *Service) RoomOpened(r Room, roomName string) {
	if s.cfg.Ledger == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, ledgerTimeout)
	entries, err := s.cfg.Ledger.Entries(ctx, roomName)
	cancel()
	if err != nil {
		s.log.Warn("the room's recordings in progress cannot be read: they do not go on here", "room", roomName, "err", err)
		return
	}
	for id, b := range entries {
		s.resume(r, roomName, id, b)
	}
}

func (s *Service) resume(r Room, roomName, id string, b []byte) {
	var e ledgerEntry
	info := &livekit.EgressInfo{}
	if err := json.Unmarshal(b, &e); err != nil || proto.Unmarshal(e.Info, info) != nil || info.EgressId != id {
		s.log.Warn("a recording in the ledger cannot be read", "room", roomName, "egress", id)
		return
	}
	s.mu.Lock()
	old := s.jobs[id]
	s.mu.Unlock()
	if old != nil && old.snapshot().Status <= livekit.EgressStatus_EGRESS_ENDING {
		return // this node records it already
	}
	info.Status, info.UpdatedAt = livekit.EgressStatus_EGRESS_STARTING, time.Now().UnixNano()
	if _, track := info.Request.(*livekit.EgressInfo_Track); track {
		j := &job{s: s, room: r, top: filepath.Join(s.cfg.Dir, id), earlier: e.Segments, info: info}
		j.dir = j.top
		s.mu.Lock()
		s.jobs[id] = j
		s.mu.Unlock()
		s.log.Info("a track's recording ended with its node; finishing it here", "room", roomName, "egress", id)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			j.finish(nil, "")
		}()
		return
	}
	if _, _, err := s.begin(r, info, e.Meeting, e.Segments); err != nil {
		s.log.Warn("a recording could not go on after its room moved here", "room", roomName, "egress", id, "err", err)
		return
	}
	s.log.Info("recording goes on after its room moved here", "room", roomName, "egress", id, "segment", len(e.Segments)+1)
}
