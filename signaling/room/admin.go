package room

import (
	"errors"
	"fmt"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/auth"
)

// Errors of administrative operations; the RoomService maps them to Twirp codes.
var (
	ErrRoomNotFound        = errors.New("room not found")
	ErrParticipantNotFound = errors.New("participant not found")
	ErrTrackNotFound       = errors.New("track not found")
	ErrRemoteUnmute        = errors.New("remote unmute is disabled on this server (room.allow_remote_unmute)")
)

// CreateRoom makes a room ahead of the first join, or returns the existing one.
func (m *Manager) CreateRoom(req *livekit.CreateRoomRequest) (*Room, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, errors.New("server is shutting down")
	}
	if r := m.rooms[req.Name]; r != nil && !r.isClosed() {
		m.mu.Unlock()
		return r, nil
	}
	opts := optionsFrom(&m.cfg)
	opts.override(req.EmptyTimeout, req.DepartureTimeout, req.MaxParticipants)
	r := newRoom(m.env, m.log, req.Name, opts, m.roomClosed)
	r.metadata = req.Metadata
	m.rooms[req.Name] = r
	m.mu.Unlock()
	m.log.Info("room created by API", "room", req.Name, "sid", r.sid, "maxParticipants", opts.maxParticipants)
	r.opened()
	if req.GetEgress().GetRoom() != nil {
		if err := r.recordMeeting(true); err != nil {
			return r, fmt.Errorf("the room was created but cannot be recorded: %w", err)
		}
	}
	return r, nil
}

// RemoveParticipant disconnects a participant, telling it why.
func (r *Room) RemoveParticipant(identity string) error {
	p := r.Participant(identity)
	if p == nil {
		return ErrParticipantNotFound
	}
	p.close(livekit.DisconnectReason_PARTICIPANT_REMOVED, true)
	return nil
}

// MuteTrack mutes (or, if the server allows it, unmutes) a participant's published track: the
// client is told to mute its own track, and everyone sees the new state.
func (r *Room) MuteTrack(identity, trackSID string, muted bool) (*livekit.TrackInfo, error) {
	p := r.Participant(identity)
	if p == nil {
		return nil, ErrParticipantNotFound
	}
	if !muted && !r.opts.allowRemoteUnmute {
		return nil, ErrRemoteUnmute
	}
	if p.trackInfo(trackSID) == nil {
		return nil, ErrTrackNotFound
	}
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Mute{Mute: &livekit.MuteTrackRequest{Sid: trackSID, Muted: muted}}})
	p.setTrackMuted(trackSID, muted)
	return p.trackInfo(trackSID), nil
}

// UpdateParticipant changes a participant's metadata, name, attributes and permission as an
// administrator; the participant and everyone else are told.
func (r *Room) UpdateParticipant(req *livekit.UpdateParticipantRequest) (*livekit.ParticipantInfo, error) {
	p := r.Participant(req.Identity)
	if p == nil {
		return nil, ErrParticipantNotFound
	}
	p.mu.Lock()
	if err := p.applyDetailsLocked(req.Metadata, req.Name, req.Attributes); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	var old *livekit.ParticipantPermission
	if req.Permission != nil {
		old = p.permission
		p.permission = proto.Clone(req.Permission).(*livekit.ParticipantPermission)
	}
	p.mu.Unlock()
	p.changed()
	info := p.Info()
	if old != nil {
		p.permissionChanged(old, req.Permission)
	}
	return info, nil
}

// permissionChanged applies a new permission to what the participant already does.
func (p *Participant) permissionChanged(old, cur *livekit.ParticipantPermission) {
	if old.CanSubscribe && !cur.CanSubscribe {
		for _, sid := range p.subs.sids() {
			p.unsubscribe(sid)
		}
	}
	if !old.CanSubscribe && cur.CanSubscribe && p.autoSubscribe {
		p.subscribeToAll()
	}
	// Tracks the participant may no longer publish are taken down, and the client is told.
	for _, t := range p.publishedTracks() {
		if info := t.info.Load(); !auth.CanPublishSource(cur, info.Source) {
			p.unpublish(info.Sid, true)
		}
	}
}

// UpdateSubscriptions subscribes or unsubscribes a participant as an administrator.
func (r *Room) UpdateSubscriptions(identity string, trackSIDs []string, subscribe bool) error {
	p := r.Participant(identity)
	if p == nil {
		return ErrParticipantNotFound
	}
	p.handleSubscription(&livekit.UpdateSubscription{TrackSids: trackSIDs, Subscribe: subscribe})
	return nil
}

// SendData sends a server-originated data packet to everyone, or to the identities named.
func (r *Room) SendData(req *livekit.SendDataRequest) error {
	if lim := r.env.limits.MaxDataPacket; lim > 0 && len(req.Data) > lim {
		return fmt.Errorf("data larger than %d bytes", lim)
	}
	pkt := &livekit.DataPacket{
		Kind:                  req.Kind, //nolint:staticcheck // for older clients
		DestinationIdentities: req.DestinationIdentities,
		Value: &livekit.DataPacket_User{User: &livekit.UserPacket{
			Payload: req.Data, Topic: req.Topic, DestinationIdentities: req.DestinationIdentities, Nonce: req.Nonce}},
	}
	b, err := proto.Marshal(pkt)
	if err != nil {
		return err
	}
	r.forwardData(nil, req.Kind, b, req.DestinationIdentities, req.DestinationSids) //nolint:staticcheck
	return nil
}

// ParticipantInfos lists the participants as clients see them (hidden ones included, for admins).
func (r *Room) ParticipantInfos() []*livekit.ParticipantInfo {
	ps := r.Participants()
	out := make([]*livekit.ParticipantInfo, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Info())
	}
	return out
}
