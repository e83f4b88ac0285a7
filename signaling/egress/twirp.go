package egress

import (
	"context"
	"sort"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/hop-meet/hop/recorder"
)

// twirpService is the Twirp face of the service.
type twirpService struct{ s *Service }

func (t twirpService) StartRoomCompositeEgress(ctx context.Context, req *livekit.RoomCompositeEgressRequest) (*livekit.EgressInfo, error) {
	return t.s.start(ctx, &livekit.EgressInfo{RoomName: req.RoomName, Request: &livekit.EgressInfo_RoomComposite{RoomComposite: req},
		SourceType: livekit.EgressSourceType_EGRESS_SOURCE_TYPE_SDK})
}

func (t twirpService) StartParticipantEgress(ctx context.Context, req *livekit.ParticipantEgressRequest) (*livekit.EgressInfo, error) {
	return t.s.start(ctx, &livekit.EgressInfo{RoomName: req.RoomName, Request: &livekit.EgressInfo_Participant{Participant: req},
		SourceType: livekit.EgressSourceType_EGRESS_SOURCE_TYPE_SDK})
}

func (t twirpService) StartTrackEgress(ctx context.Context, req *livekit.TrackEgressRequest) (*livekit.EgressInfo, error) {
	return t.s.start(ctx, &livekit.EgressInfo{RoomName: req.RoomName, Request: &livekit.EgressInfo_Track{Track: req},
		SourceType: livekit.EgressSourceType_EGRESS_SOURCE_TYPE_SDK})
}

// wantFor picks the tracks an egress records, from its request (so that the node continuing a
// recording picks as the one that began it); composite says whether its files are composed.
func wantFor(i *livekit.EgressInfo) (want func(*recorder.Participant, *recorder.Track) bool, composite bool) {
	switch r := i.Request.(type) {
	case *livekit.EgressInfo_RoomComposite:
		req := r.RoomComposite
		return func(_ *recorder.Participant, tr *recorder.Track) bool {
			return !(req.AudioOnly && tr.Info.Type == livekit.TrackType_VIDEO) && !(req.VideoOnly && tr.Info.Type == livekit.TrackType_AUDIO)
		}, true
	case *livekit.EgressInfo_Participant:
		req := r.Participant
		return func(p *recorder.Participant, tr *recorder.Track) bool {
			if p.Identity != req.Identity {
				return false
			}
			screen := tr.Info.Source == livekit.TrackSource_SCREEN_SHARE || tr.Info.Source == livekit.TrackSource_SCREEN_SHARE_AUDIO
			return screen == req.ScreenShare
		}, true
	case *livekit.EgressInfo_Track:
		sid := r.Track.TrackId
		return func(_ *recorder.Participant, tr *recorder.Track) bool { return tr.Info.Sid == sid }, false
	}
	return func(*recorder.Participant, *recorder.Track) bool { return false }, false
}

func hasTrack(r Room, sid string) bool {
	for _, p := range r.Snapshot() {
		for _, tr := range p.Tracks {
			if tr.Info.Sid == sid && tr.Media != nil {
				return true
			}
		}
	}
	return false
}

func (t twirpService) ListEgress(ctx context.Context, req *livekit.ListEgressRequest) (*livekit.ListEgressResponse, error) {
	if req.RoomName != "" {
		if err := checkRoom(ctx, req.RoomName); err != nil {
			return nil, err
		}
	}
	items := t.s.gather(ctx, req)
	// A token limited to one room sees only that room's egresses.
	if err := checkRoom(ctx, ""); err != nil {
		kept := items[:0]
		for _, i := range items {
			if checkRoom(ctx, i.RoomName) == nil {
				kept = append(kept, i)
			}
		}
		items = kept
	}
	return &livekit.ListEgressResponse{Items: items}, nil
}

// gather returns the egresses req selects of this node and every other live node, links signed.
func (s *Service) gather(ctx context.Context, req *livekit.ListEgressRequest) []*livekit.EgressInfo {
	items := s.list(req.RoomName, req.EgressId, req.Active)
	if s.cfg.Peers != nil {
		items = merge(items, s.cfg.Peers.List(ctx, req))
		items = addMissing(items, s.listUnhosted(ctx, req)) // active, whatever req.Active
		sort.Slice(items, func(a, b int) bool { return items[a].StartedAt < items[b].StartedAt })
	}
	// Signed here, for every node's: the nodes share the store's configuration, and the links
	// last from when the caller got them.
	for _, i := range items {
		s.signLinks(ctx, i)
	}
	return items
}

func (t twirpService) StopEgress(ctx context.Context, req *livekit.StopEgressRequest) (*livekit.EgressInfo, error) {
	// The egress's room is known only where it runs: that node checks the token's room.
	room := tokenRoom(ctx)
	if err := checkRoom(ctx, room); err != nil {
		return nil, err
	}
	var info *livekit.EgressInfo
	var err error
	if t.s.job(req.EgressId) != nil || t.s.cfg.Peers == nil {
		info, err = t.s.StopHere(req.EgressId, room)
	} else {
		info, err = t.s.cfg.Peers.Stop(ctx, req.EgressId, room)
	}
	if err == nil && info == nil {
		info, err = t.s.stopUnhosted(ctx, req.EgressId, room)
	}
	switch {
	case err != nil:
		return nil, peerError(err)
	case info == nil:
		return nil, twirp.NewError(twirp.NotFound, "egress "+req.EgressId+" not found")
	}
	return info, nil
}

func unimplemented() error { return twirp.NewError(twirp.Unimplemented, "not served by Hop") }

func (twirpService) StartEgress(context.Context, *livekit.StartEgressRequest) (*livekit.EgressInfo, error) {
	return nil, unimplemented()
}
func (twirpService) UpdateLayout(context.Context, *livekit.UpdateLayoutRequest) (*livekit.EgressInfo, error) {
	return nil, unimplemented()
}
func (twirpService) UpdateStream(context.Context, *livekit.UpdateStreamRequest) (*livekit.EgressInfo, error) {
	return nil, unimplemented()
}
func (twirpService) StartWebEgress(context.Context, *livekit.WebEgressRequest) (*livekit.EgressInfo, error) {
	return nil, unimplemented()
}
func (twirpService) StartTrackCompositeEgress(context.Context, *livekit.TrackCompositeEgressRequest) (*livekit.EgressInfo, error) {
	return nil, unimplemented()
}
