package room

import (
	"errors"

	"github.com/livekit/protocol/livekit"
)

// PublishedTrackView is a published track as an observer of the room (a recorder) sees it.
type PublishedTrackView struct {
	Info  *livekit.TrackInfo
	Media MediaTrack
}

// PublishedTracks returns the tracks p publishes, with their media.
func (p *Participant) PublishedTracks() []PublishedTrackView {
	p.pubs.mu.Lock()
	defer p.pubs.mu.Unlock()
	out := make([]PublishedTrackView, 0, len(p.pubs.bySID))
	for _, t := range p.pubs.bySID {
		out = append(out, PublishedTrackView{Info: t.info.Load(), Media: t.media})
	}
	return out
}

// Done is closed when the room has closed.
func (r *Room) Done() <-chan struct{} { return r.done }

// SetRecording turns the room's active_recording on or off and tells everyone in it; those who
// join later see it in their join response.
func (r *Room) SetRecording(on bool) {
	if r.recording.Swap(on) == on {
		return
	}
	info := r.Info()
	for _, p := range r.Participants() {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{Room: info}}})
	}
}

// MeetingRecorder records a whole meeting (the node's recorder service): what hosts start and
// stop from the meeting, and what a room created to be recorded starts by itself.
type MeetingRecorder interface {
	// RecordMeeting starts the meeting's recording (on), or stops it; starting a meeting already
	// being recorded, or stopping one that is not, does nothing.
	RecordMeeting(r *Room, on bool) error
	// RoomOpened is told of each room made on this node: one that moved here from a node that
	// died may have recordings to go on with.
	RoomOpened(r *Room)
}

// ErrNoRecorder: the node has no recorder to record the meeting with.
var ErrNoRecorder = errors.New("recording_unavailable")

// SetMeetingRecorder gives the manager's rooms their recorder. Call it before the node serves.
func (m *Manager) SetMeetingRecorder(rec MeetingRecorder) { m.env.recorder = rec }

// opened tells the recorder a room was made here.
func (r *Room) opened() {
	r.emit("room_started", nil, nil)
	if r.env.recorder != nil {
		r.env.recorder.RoomOpened(r)
	}
}

// recordMeeting turns the meeting's own recording on or off.
func (r *Room) recordMeeting(on bool) error {
	if r.env.recorder == nil {
		return ErrNoRecorder
	}
	return r.env.recorder.RecordMeeting(r, on)
}
