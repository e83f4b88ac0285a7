package egress

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/proto"
)

// Ledger keeps the recordings in progress per room where every node finds them (the cluster's
// Redis), so that a room whose node died goes on being recorded by the node it moves to.
type Ledger interface {
	Save(ctx context.Context, room, id string, entry []byte) error
	Remove(ctx context.Context, room, id string) error
	Entries(ctx context.Context, room string) (map[string][]byte, error)
	// Release says this node no longer records id: its room moved to another node.
	Release(ctx context.Context, id string) error
	// Unhosted lists, by room, the recordings of rooms no node hosts and no live node records:
	// those of room, or of every room if it is empty.
	Unhosted(ctx context.Context, room string) (map[string]map[string][]byte, error)
	// TakeUnhosted removes an unhosted recording whose entry is still entry, for this node to
	// finish; false when another node took it or its room is hosted again.
	TakeUnhosted(ctx context.Context, room, id string, entry []byte) (bool, error)
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
	info, e, err := readEntry(id, b)
	if err != nil {
		s.log.Warn("a recording in the ledger cannot be read", "room", roomName, "egress", id, "err", err)
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
		s.log.Info("a track's recording ended with its node; finishing it here", "room", roomName, "egress", id)
		s.finishEarlier(info, e)
		return
	}
	if _, _, err := s.begin(r, info, e.Meeting, e.Segments); err != nil {
		s.log.Warn("a recording could not go on after its room moved here", "room", roomName, "egress", id, "err", err)
		return
	}
	s.log.Info("recording goes on after its room moved here", "room", roomName, "egress", id, "segment", len(e.Segments)+1)
}

// finishEarlier finishes, from its segments alone, a recording that no node records any more.
func (s *Service) finishEarlier(info *livekit.EgressInfo, e ledgerEntry) *job {
	_, composite := wantFor(info)
	top := filepath.Join(s.cfg.Dir, info.EgressId)
	j := &job{s: s, composite: composite, meeting: e.Meeting, top: top, dir: top, earlier: e.Segments, info: info}
	s.mu.Lock()
	s.jobs[info.EgressId] = j
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		j.finish(nil, "")
	}()
	return j
}

// release says in the ledger that this node no longer records j, whose room moved away.
func (s *Service) release(j *job) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), ledgerTimeout)
	defer cancel()
	if err := s.cfg.Ledger.Release(ctx, j.snapshot().EgressId); err != nil {
		s.log.Warn("a recording that moved with its room stays indexed to this node", "egress", j.snapshot().EgressId, "err", err)
	}
}

// adopt finishes the recordings of rooms that no node has hosted for AbandonedAfter (their node
// died or drained, and nobody came back), so that they are composed and listed rather than left
// in the ledger. Every node looks; the ledger gives each recording to one. It runs until the
// service closes.
func (s *Service) adopt() {
	defer s.wg.Done()
	every := min(max(s.cfg.AbandonedAfter/4, time.Second), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	seen := map[string]unhosted{} // by egress id
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		seen = s.adoptSweep(seen, time.Now())
	}
}

// unhosted is a recording seen without a node: since when, and with which entry.
type unhosted struct {
	since time.Time
	entry string
}

func (s *Service) adoptSweep(seen map[string]unhosted, now time.Time) map[string]unhosted {
	ctx, cancel := context.WithTimeout(s.ctx, ledgerTimeout)
	rooms, err := s.cfg.Ledger.Unhosted(ctx, "")
	cancel()
	if err != nil {
		s.log.Debug("recordings left by their node: cannot list them", "err", err)
		return seen
	}
	next := map[string]unhosted{}
	for room, entries := range rooms {
		for id, b := range entries {
			u, ok := seen[id]
			if !ok || u.entry != string(b) {
				u = unhosted{since: now, entry: string(b)} // a room hosted again meanwhile starts over
			}
			if now.Sub(u.since) < s.cfg.AbandonedAfter {
				next[id] = u
				continue
			}
			s.adoptOne(room, id, b)
		}
	}
	return next
}

func (s *Service) adoptOne(room, id string, b []byte) {
	ctx, cancel := context.WithTimeout(s.ctx, ledgerTimeout)
	defer cancel()
	if info, err := s.takeUnhosted(ctx, room, id, b); err == nil && info != nil {
		s.log.Info("nobody came back to a room whose node recorded it: finishing its recording here", "room", room, "egress", id)
	}
}

// takeUnhosted takes recording id of room (its ledger entry b) from the ledger and finishes it
// here; nil, nil when another node took it first or its room is hosted again.
func (s *Service) takeUnhosted(ctx context.Context, room, id string, b []byte) (*livekit.EgressInfo, error) {
	info, e, err := readEntry(id, b)
	if err != nil {
		s.log.Warn("a recording in the ledger cannot be read", "room", room, "egress", id)
		return nil, err
	}
	took, err := s.cfg.Ledger.TakeUnhosted(ctx, room, id, b)
	if err != nil || !took {
		return nil, err
	}
	info.Status, info.UpdatedAt = livekit.EgressStatus_EGRESS_ENDING, time.Now().UnixNano()
	j := s.finishEarlier(info, e)
	return j.snapshot(), nil
}

// readEntry decodes recording id's ledger entry.
func readEntry(id string, b []byte) (*livekit.EgressInfo, ledgerEntry, error) {
	var e ledgerEntry
	info := &livekit.EgressInfo{}
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, e, err
	}
	if err := proto.Unmarshal(e.Info, info); err != nil {
		return nil, e, err
	}
	if info.EgressId != id {
		return nil, e, errors.New("ledger entry of " + id + " names " + info.EgressId)
	}
	return info, e, nil
}

// unhostedNote is what ListEgress says of a recording whose room is on no node.
const unhostedNote = "its node stopped: it goes on when someone rejoins the meeting, or is finished soon"

// listUnhosted returns the recordings req selects whose room is on no node now (their node died
// or drained): still active, as the meeting may resume.
func (s *Service) listUnhosted(ctx context.Context, req *livekit.ListEgressRequest) []*livekit.EgressInfo {
	if s.cfg.Ledger == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, ledgerTimeout)
	defer cancel()
	rooms, err := s.cfg.Ledger.Unhosted(ctx, req.RoomName)
	if err != nil {
		s.log.Warn("ListEgress: recordings left by their node cannot be listed", "err", err)
		return nil
	}
	var out []*livekit.EgressInfo
	for _, entries := range rooms {
		for id, b := range entries {
			if req.EgressId != "" && id != req.EgressId {
				continue
			}
			if info, _, err := readEntry(id, b); err == nil {
				info.Details = unhostedNote
				out = append(out, info)
			}
		}
	}
	return out
}

// stopUnhosted stops recording id, whose room is on no node, by finishing it here: what its
// node recorded is composed now rather than when abandoned_after has passed. nil, nil: no such
// recording.
func (s *Service) stopUnhosted(ctx context.Context, id, room string) (*livekit.EgressInfo, error) {
	if s.cfg.Ledger == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ledgerTimeout)
	defer cancel()
	rooms, err := s.cfg.Ledger.Unhosted(ctx, room)
	if err != nil {
		return nil, twirp.NewError(twirp.Unavailable, "the cluster's recordings cannot be read: "+err.Error())
	}
	for r, entries := range rooms {
		if b, ok := entries[id]; ok {
			info, err := s.takeUnhosted(ctx, r, id, b)
			if err == nil && info == nil {
				// Taken by another node, or its room opened again: it is stopped there.
				return nil, twirp.NewError(twirp.Unavailable, "egress "+id+" is moving between nodes: try again")
			}
			return info, err
		}
	}
	return nil, nil
}
