package egress

import (
	"context"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/hop-meet/hop/recorder"
)

// twirpService is the Twirp face of the service.
type twirpService struct{ s *Service }

func (t twirpService) StartRoomCompositeEgress(ctx context.Context, req *livekit.RoomCompositeEgressRequest) (*livekit.EgressInfo, error) {
	return t.s.start(ctx, req.RoomName, func(i *livekit.EgressInfo) {
		i.Request = &livekit.EgressInfo_RoomComposite{RoomComposite: req}
		i.SourceType = livekit.EgressSourceType_EGRESS_SOURCE_TYPE_SDK
	})
}

func (t twirpService) StartParticipantEgress(ctx context.Context, req *livekit.ParticipantEgressRequest) (*livekit.EgressInfo, error) {
	return t.s.start(ctx, req.RoomName, func(i *livekit.EgressInfo) {
		i.Request = &livekit.EgressInfo_Participant{Participant: req}
		i.SourceType = livekit.EgressSourceType_EGRESS_SOURCE_TYPE_SDK
	})
}

func (t twirpService) StartTrackEgress(ctx context.Context, req *livekit.TrackEgressRequest) (*livekit.EgressInfo, error) {
	if r := t.s.rooms.Room(req.RoomName); r != nil && checkRoom(ctx, req.RoomName) == nil && !hasTrack(r, req.TrackId) {
		return nil, twirp.NewError(twirp.NotFound, "track "+req.TrackId+" is not published in room "+req.RoomName)
	}
	return t.s.start(ctx, req.RoomName, func(i *livekit.EgressInfo) {
		i.Request = &livekit.EgressInfo_Track{Track: req}
		i.SourceType = livekit.EgressSourceType_EGRESS_SOURCE_TYPE_SDK
	})
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
	items := t.s.list(req.RoomName, req.EgressId, req.Active)
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
	for _, i := range items {
		t.s.signLinks(ctx, i)
	}
	return &livekit.ListEgressResponse{Items: items}, nil
}

func (t twirpService) StopEgress(ctx context.Context, req *livekit.StopEgressRequest) (*livekit.EgressInfo, error) {
	t.s.mu.Lock()
	j := t.s.jobs[req.EgressId]
	t.s.mu.Unlock()
	if j == nil {
		return nil, twirp.NewError(twirp.NotFound, "egress "+req.EgressId+" not found")
	}
	if err := checkRoom(ctx, j.snapshot().RoomName); err != nil {
		return nil, err
	}
	if st := j.snapshot().Status; st > livekit.EgressStatus_EGRESS_ENDING {
		return nil, twirp.NewError(twirp.FailedPrecondition, "egress "+req.EgressId+" has already ended")
	}
	j.stop()
	return j.snapshot(), nil
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
