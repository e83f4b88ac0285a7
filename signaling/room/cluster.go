package room

import "github.com/livekit/protocol/livekit"

// Move ends the room on this node and asks its participants to join again (a LeaveRequest with
// action RECONNECT): the node lost the room's lease, or is draining, and the room's next join
// places it on another node.
func (r *Room) Move() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	if r.closeTimer != nil {
		r.closeTimer.Stop()
	}
	ps := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
			Reason: livekit.DisconnectReason_MIGRATION, Action: livekit.LeaveRequest_RECONNECT, CanReconnect: true}}})
		p.close(livekit.DisconnectReason_MIGRATION, false)
	}
	close(r.done)
	r.wg.Wait()
	if r.onClosed != nil {
		r.onClosed(r)
	}
}

// Load is what the node carries, for placing rooms across a cluster.
func (m *Manager) Load() (rooms, participants int) {
	for _, r := range m.Rooms() {
		rooms++
		participants += len(r.Participants())
	}
	return rooms, participants
}
