package node

import (
	"context"
	"errors"
	"time"

	"github.com/hop-meet/hop/signaling/meeting"
	"github.com/hop-meet/hop/signaling/room"
)

// meetingGate lets the invitation exchange consult the rules of this node's meetings.
type meetingGate struct{ rooms *room.Manager }

var _ meeting.Gate = meetingGate{}

func (g meetingGate) Admission(name, identity string, role meeting.Role, password string) string {
	r := g.rooms.Room(name)
	if r == nil {
		return meeting.Admit // a meeting not started yet has no rules to apply
	}
	rl, ok := room.ParseRole(string(role))
	if !ok {
		rl = room.RoleParticipant
	}
	switch r.Admission(identity, rl, password) {
	case room.Wait:
		return meeting.Wait
	case room.RefuseLocked:
		return meeting.RefuseLocked
	case room.RefuseBarred:
		return meeting.RefuseRemoved
	case room.RefuseFull:
		return meeting.RefuseFull
	case room.PasswordRequired:
		return meeting.PasswordRequired
	case room.PasswordWrong:
		return meeting.PasswordWrong
	}
	return meeting.Admit
}

func (g meetingGate) Knock(name, identity, display, addr string) string {
	r := g.rooms.Room(name)
	if r == nil {
		return ""
	}
	return r.Knock(identity, display, addr)
}

func (g meetingGate) Withdraw(name, ticket string) error {
	if r := g.rooms.Room(name); r != nil {
		return r.Withdraw(ticket)
	}
	return nil
}

func (g meetingGate) Await(ctx context.Context, name, ticket string, wait time.Duration) error {
	r := g.rooms.Room(name)
	if r == nil {
		return meeting.ErrLobbyTimeout // the meeting ended while they waited
	}
	switch err := r.Await(ctx, ticket, wait); {
	case errors.Is(err, room.ErrLobbyDenied):
		return meeting.ErrLobbyDenied
	case errors.Is(err, room.ErrLobbyTimeout):
		return meeting.ErrLobbyTimeout
	case errors.Is(err, room.ErrTicketUnknown):
		return meeting.ErrTicketUnknown
	default:
		return err
	}
}
