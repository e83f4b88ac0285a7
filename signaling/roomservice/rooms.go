package roomservice

import (
	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/signaling/room"
)

// Rooms is what the RoomService needs of the rooms it manages. A node serves its own rooms
// (LocalRooms); in a cluster another implementation can forward a call to the room's node.
type Rooms interface {
	// Room returns the named room, or nil.
	Room(name string) Room
	Rooms() []Room
	// CreateRoom makes a room ahead of its first join, or returns the existing one.
	CreateRoom(req *livekit.CreateRoomRequest) (Room, error)
	// DeleteRoom closes a room, disconnecting everyone in it.
	DeleteRoom(name string) error
}

// Room is one room's administration, as the RoomService performs it.
type Room interface {
	Name() string
	Info() *livekit.Room
	SetMetadata(md string)
	ParticipantInfos() []*livekit.ParticipantInfo
	// ParticipantInfo returns the participant's info, or nil if it is not in the room.
	ParticipantInfo(identity string) *livekit.ParticipantInfo
	RemoveParticipant(identity string) error
	MuteTrack(identity, trackSID string, muted bool) (*livekit.TrackInfo, error)
	UpdateParticipant(req *livekit.UpdateParticipantRequest) (*livekit.ParticipantInfo, error)
	UpdateSubscriptions(identity string, trackSIDs []string, subscribe bool) error
	SendData(req *livekit.SendDataRequest) error
}

// LocalRooms serves the rooms of this node's room manager.
func LocalRooms(m *room.Manager) Rooms { return localRooms{m} }

type localRooms struct{ m *room.Manager }

func (l localRooms) Room(name string) Room {
	if r := l.m.Room(name); r != nil {
		return localRoom{r}
	}
	return nil // not a localRoom holding nil: callers compare with nil
}

func (l localRooms) Rooms() []Room {
	rs := l.m.Rooms()
	out := make([]Room, len(rs))
	for i, r := range rs {
		out[i] = localRoom{r}
	}
	return out
}

func (l localRooms) CreateRoom(req *livekit.CreateRoomRequest) (Room, error) {
	r, err := l.m.CreateRoom(req)
	if err != nil {
		return nil, err
	}
	return localRoom{r}, nil
}

func (l localRooms) DeleteRoom(name string) error { return l.m.DeleteRoom(name) }

// localRoom adds to *room.Room the one operation it lacks: a participant's info by identity
// (room hands out the participant itself, which the service has no use for).
type localRoom struct{ *room.Room }

func (r localRoom) ParticipantInfo(identity string) *livekit.ParticipantInfo {
	if p := r.Participant(identity); p != nil {
		return p.Info()
	}
	return nil
}
