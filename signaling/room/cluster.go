package room

import "github.com/livekit/protocol/livekit"

// Move ends the room on this node and asks its participants to join again (a LeaveRequest with
// action RECONNECT): the node lost the room's lease, or is draining, and the room's next join
// places it on another node.
func (r *Room) Move() {
	r.moved.Store(true)
	r.shutdown(func(p *Participant) {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
			Reason: livekit.DisconnectReason_MIGRATION, Action: livekit.LeaveRequest_RECONNECT, CanReconnect: true}}})
		p.close(livekit.DisconnectReason_MIGRATION, false)
	})
}

// Moved says whether the room ended here to go on on another node.
func (r *Room) Moved() bool { return r.moved.Load() }

// Load is what the node carries, for placing rooms across a cluster.
func (m *Manager) Load() (rooms, participants int) {
	for _, r := range m.Rooms() {
		rooms++
		participants += len(r.Participants())
	}
	return rooms, participants
}
