package egress

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/hop-meet/hop/signaling/auth"
)

// Peers reaches the other nodes of a cluster, so that every Egress call works on any node behind
// a load balancer: a call this node cannot answer goes to the node that can. That node trusts the
// call, whose token this node has checked.
type Peers interface {
	// Start starts, on the node hosting req's room, the egress req describes (its RoomName,
	// Request and SourceType) and returns its first state; nil, nil: no node hosts the room.
	Start(ctx context.Context, req *livekit.EgressInfo) (*livekit.EgressInfo, error)
	// Stop stops egress id where it runs if it records room (any room if empty); nil, nil: no
	// other node has it.
	Stop(ctx context.Context, id, room string) (*livekit.EgressInfo, error)
	// List returns the egresses of every other live node that req selects, links unsigned.
	List(ctx context.Context, req *livekit.ListEgressRequest) []*livekit.EgressInfo
	// Find returns recording id as the other node that has it knows it (links unsigned) and that
	// node's HTTP base URL, which serves its local files; nil: no other node has it.
	Find(ctx context.Context, id string) (*livekit.EgressInfo, string, error)
	// Delete deletes recording id of room on the other node that has it (DeleteHere there);
	// false, nil: no other node has it.
	Delete(ctx context.Context, id, room string) (bool, error)
}

// StartHere starts on this node the egress req describes (its RoomName, Request and SourceType):
// a call forwarded by another node, which checked its token.
func (s *Service) StartHere(req *livekit.EgressInfo) (*livekit.EgressInfo, error) {
	r := s.rooms.Room(req.RoomName)
	if r == nil {
		return nil, twirp.NewError(twirp.NotFound, "room "+req.RoomName+" is not on this node")
	}
	if t, ok := req.Request.(*livekit.EgressInfo_Track); ok && !hasTrack(r, t.Track.TrackId) {
		return nil, twirp.NewError(twirp.NotFound, "track "+t.Track.TrackId+" is not published in room "+req.RoomName)
	}
	return s.startIn(r, req)
}

// StopHere stops this node's egress id if it records room (any room if empty): nil, nil if this
// node has no such egress.
func (s *Service) StopHere(id, room string) (*livekit.EgressInfo, error) {
	j := s.job(id)
	if j == nil {
		return nil, nil
	}
	if room != "" && j.snapshot().RoomName != room {
		return nil, twirp.NewError(twirp.PermissionDenied, "token is for room "+room)
	}
	if st := j.snapshot().Status; st > livekit.EgressStatus_EGRESS_ENDING {
		return nil, twirp.NewError(twirp.FailedPrecondition, "egress "+id+" has already ended")
	}
	j.stop()
	return j.snapshot(), nil
}

// ListHere returns this node's egresses that req selects, links unsigned (the answering node signs them).
func (s *Service) ListHere(req *livekit.ListEgressRequest) []*livekit.EgressInfo {
	return s.list(req.RoomName, req.EgressId, req.Active)
}

// FindHere returns this node's recording id, links unsigned; nil if it has none.
func (s *Service) FindHere(id string) *livekit.EgressInfo {
	if j := s.job(id); j != nil {
		return j.snapshot()
	}
	return nil
}

// DeleteHere deletes this node's finished recording id of room, here and in the store: false,
// nil if it has no such recording. Its errors are Twirp errors whose message is the recordings
// API's error code, so that they keep their meaning across the cluster.
func (s *Service) DeleteHere(ctx context.Context, id, room string) (bool, error) {
	j := s.job(id)
	if j == nil || j.snapshot().RoomName != room {
		return false, nil
	}
	if j.snapshot().Status <= livekit.EgressStatus_EGRESS_ENDING {
		return true, twirp.NewError(twirp.FailedPrecondition, "recording_in_progress")
	}
	if s.cfg.Store != nil {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err := s.cfg.Store.DeletePrefix(ctx, id+"/")
		cancel()
		if err != nil {
			s.log.Warn("deleting a recording from the store failed", "recording", id, "err", err)
			return true, twirp.NewError(twirp.Unavailable, "store_unavailable")
		}
	}
	if err := os.RemoveAll(filepath.Join(s.cfg.Dir, filepath.Base(id))); err != nil {
		s.log.Warn("deleting a recording's files failed", "recording", id, "err", err)
		return true, twirp.NewError(twirp.Internal, "internal")
	}
	s.mu.Lock()
	delete(s.jobs, id)
	s.mu.Unlock()
	s.log.Info("recording deleted", "recording", id, "room", room)
	return true, nil
}

func (s *Service) job(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id]
}

// tokenRoom is the room the request's token is limited to ("" any).
func tokenRoom(ctx context.Context) string {
	if g, _ := ctx.Value(grantsKey{}).(*auth.Grants); g != nil && g.Video != nil {
		return g.Video.Room
	}
	return ""
}

// peerError keeps the code another node answered with; failing to reach it is Unavailable.
func peerError(err error) error {
	var te twirp.Error
	if errors.As(err, &te) {
		return te
	}
	return twirp.NewError(twirp.Unavailable, err.Error())
}

// merge adds the other nodes' egresses to this node's; one seen on two nodes (its room moved
// while they answered) is kept as last updated.
func merge(here, there []*livekit.EgressInfo) []*livekit.EgressInfo {
	at := make(map[string]int, len(here))
	for k, i := range here {
		at[i.EgressId] = k
	}
	for _, i := range there {
		k, ok := at[i.EgressId]
		switch {
		case !ok:
			at[i.EgressId] = len(here)
			here = append(here, i)
		case i.UpdatedAt > here[k].UpdatedAt:
			here[k] = i
		}
	}
	return here
}

// addMissing appends to items those of more whose egress is not among them.
func addMissing(items, more []*livekit.EgressInfo) []*livekit.EgressInfo {
	have := make(map[string]bool, len(items))
	for _, i := range items {
		have[i.EgressId] = true
	}
	for _, i := range more {
		if !have[i.EgressId] {
			items = append(items, i)
		}
	}
	return items
}
