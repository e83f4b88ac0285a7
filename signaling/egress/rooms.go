package egress

import (
	"github.com/hop-meet/hop/recorder"
	"github.com/hop-meet/hop/signaling/room"
)

// Rooms finds the rooms to record on this node.
type Rooms interface {
	// Room returns the named room, or nil.
	Room(name string) Room
}

// Room is a room as the egress service records it.
type Room interface {
	recorder.Room
	SetRecording(on bool)
	// Moved says whether the room ended here to go on on another node.
	Moved() bool
}

// LocalRooms serves the rooms of this node's room manager.
func LocalRooms(m *room.Manager) Rooms { return localRooms{m} }

type localRooms struct{ m *room.Manager }

func (l localRooms) Room(name string) Room {
	if r := l.m.Room(name); r != nil {
		return localRoom{r}
	}
	return nil
}

// localRoom shows a room's participants and their SFU tracks to a recording.
type localRoom struct{ *room.Room }

func (r localRoom) Snapshot() []recorder.Participant {
	ps := r.Participants()
	out := make([]recorder.Participant, 0, len(ps))
	for _, p := range ps {
		info := p.Info()
		rp := recorder.Participant{Identity: info.Identity, Name: info.Name, SID: info.Sid}
		for _, t := range p.PublishedTracks() {
			rp.Tracks = append(rp.Tracks, recorder.Track{Info: t.Info, Media: room.SFUTrack(t.Media)})
		}
		out = append(out, rp)
	}
	return out
}

// MeetingRecorder is the service as rooms see it: the recording a meeting's hosts start and stop
// from the meeting itself (or its room's configuration starts), one per room.
func (s *Service) MeetingRecorder() room.MeetingRecorder { return meetingRecorder{s} }

type meetingRecorder struct{ s *Service }

func (m meetingRecorder) RecordMeeting(r *room.Room, on bool) error {
	return m.s.recordMeeting(localRoom{r}, r.Name(), on)
}

func (m meetingRecorder) RoomOpened(r *room.Room) { m.s.RoomOpened(localRoom{r}, r.Name()) }
