package room

import (
	"maps"
	"strings"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/auth"
)

// Role is a participant's part in a meeting: the chair (host) runs it, co-hosts help, viewers
// watch until brought on stage.
type Role string

// The roles.
const (
	RoleHost        Role = "host"
	RoleCohost      Role = "cohost"
	RoleParticipant Role = "participant"
	RoleViewer      Role = "viewer"
)

// Participant attributes the server owns: clients may not set them (hand excepted).
const (
	attrRole  = "hop.role"
	attrStage = "hop.stage"
	attrHand  = "hop.hand"
	attrOwned = "hop."
)

// ParseRole reads a role name; ok is false for anything else.
func ParseRole(s string) (Role, bool) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case RoleHost, RoleCohost, RoleParticipant, RoleViewer:
		return r, true
	}
	return "", false
}

// canModerate: hosts and co-hosts run the meeting.
func (r Role) canModerate() bool { return r == RoleHost || r == RoleCohost }

// roleFromGrants is the role a token gives: its hop.role attribute, else host for a room admin,
// else participant.
func roleFromGrants(g *auth.Grants, room string) Role {
	if r, ok := ParseRole(g.Attributes[attrRole]); ok {
		return r
	}
	if g.IsAdmin(room) {
		return RoleHost
	}
	return RoleParticipant
}

// clientAttributes drops what a client may not set itself: the server's own attributes, the
// raised hand excepted.
func clientAttributes(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		if strings.HasPrefix(k, attrOwned) && k != attrHand {
			continue
		}
		out[k] = v
	}
	return out
}

// permissionFor is what a role (and a viewer's stage) allows, from the token's permission.
func permissionFor(base *livekit.ParticipantPermission, role Role, onStage bool) *livekit.ParticipantPermission {
	p := proto.Clone(base).(*livekit.ParticipantPermission)
	if role == RoleViewer && !onStage {
		p.CanPublish = false
		p.CanPublishSources = nil
	}
	if role == RoleViewer && onStage {
		p.CanPublish = true
	}
	return p
}

// role is the participant's current role.
func (p *Participant) role() Role {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.roleLocked()
}

func (p *Participant) roleLocked() Role {
	if r, ok := ParseRole(p.attributes[attrRole]); ok {
		return r
	}
	return RoleParticipant
}

func (p *Participant) onStageLocked() bool { return p.attributes[attrStage] == "1" }

// displayName is the name people see, the identity when none was given.
func (p *Participant) displayName() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.name != "" {
		return p.name
	}
	return p.identity
}

// setRole changes the participant's role (and stage), applies what it allows, and tells everyone.
func (p *Participant) setRole(role Role, onStage bool) {
	p.mu.Lock()
	old := p.permission
	next := maps.Clone(p.attributes)
	next[attrRole] = string(role)
	if onStage {
		next[attrStage] = "1"
	} else {
		delete(next, attrStage)
	}
	p.attributes = next
	p.permission = permissionFor(p.basePermission, role, onStage)
	cur := p.permission
	p.mu.Unlock()
	p.changed()
	p.permissionChanged(old, cur)
}
