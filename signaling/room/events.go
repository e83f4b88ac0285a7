package room

import (
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
)

// Events hears what happens in this node's rooms as LiveKit's webhook events (room_started,
// participant_joined, track_published, …). A room lives on one node, so each is told once.
type Events interface {
	Event(e *livekit.WebhookEvent)
}

// SetEvents has the node's rooms tell events what happens in them.
func (m *Manager) SetEvents(e Events) { m.env.events = e }

// emit tells the node's events about one thing that happened in r.
func (r *Room) emit(event string, p *Participant, track *livekit.TrackInfo) {
	if r.env.events == nil || (p != nil && p.hidden()) {
		return
	}
	e := &livekit.WebhookEvent{Event: event, Room: r.Info(), Track: track, Id: guid.New("EV_"), CreatedAt: time.Now().Unix()}
	if p != nil {
		e.Participant = p.Info()
	}
	r.env.events.Event(e)
}
