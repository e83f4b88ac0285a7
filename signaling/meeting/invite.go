package meeting

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	lkauth "github.com/livekit/protocol/auth"
)

// Role is what an invitation lets its holder do in the meeting.
type Role string

// The roles an invitation can carry.
const (
	Host        Role = "host"        // administers the room and publishes
	Participant Role = "participant" // publishes
	Viewer      Role = "viewer"      // watches, listens and chats
)

// RoleAttribute is the participant attribute that carries the role into the room, for the
// room's own role handling to read.
const RoleAttribute = "hop.role"

// ParseRole accepts the three role names.
func ParseRole(s string) (Role, bool) {
	switch r := Role(s); r {
	case Host, Participant, Viewer:
		return r, true
	}
	return "", false
}

// Grant is the video grant a role's join token carries.
func (r Role) Grant(room string) *lkauth.VideoGrant {
	g := &lkauth.VideoGrant{RoomJoin: true, Room: room}
	g.SetCanSubscribe(true)
	g.SetCanPublishData(true)
	// Raised hands are the participant's own attributes.
	g.SetCanUpdateOwnMetadata(true)
	switch r {
	case Host:
		g.RoomAdmin = true
		g.SetCanPublish(true)
	case Participant:
		g.SetCanPublish(true)
	default:
		g.SetCanPublish(false)
	}
	return g
}

// Invite is a signed invitation to one meeting.
type Invite struct {
	Room    string
	Role    Role
	Expires time.Time
}

// Reasons an invitation is refused; the page translates these codes.
var (
	ErrInvalid = errors.New("invite_invalid")
	ErrExpired = errors.New("invite_expired")
)

const invitePrefix = "h1."

type invitePayload struct {
	Key     string `json:"k"`
	Room    string `json:"r"`
	Role    Role   `json:"o"`
	Expires int64  `json:"e"`
}

// Sign encodes the invitation in a compact URL-safe form, signed with the API key's secret.
func (inv Invite) Sign(key, secret string) (string, error) {
	if key == "" || secret == "" {
		return "", errors.New("invite: no API key")
	}
	if _, ok := ParseRole(string(inv.Role)); !ok {
		return "", errors.New("invite: unknown role")
	}
	if !ValidRoom(inv.Room) {
		return "", errors.New("invite: invalid room name")
	}
	b, err := json.Marshal(invitePayload{Key: key, Room: inv.Room, Role: inv.Role, Expires: inv.Expires.Unix()})
	if err != nil {
		return "", err
	}
	body := base64.RawURLEncoding.EncodeToString(b)
	return invitePrefix + body + "." + mac(secret, body), nil
}

// mac signs with a key derived for invitations, so an invitation's MAC is never a valid
// signature of anything else made with the same secret.
func mac(secret, body string) string {
	k := hmac.New(sha256.New, []byte(secret))
	k.Write([]byte("hop invitation v1"))
	h := hmac.New(sha256.New, k.Sum(nil))
	h.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// VerifyInvite checks an invitation's signature against the node's keys and its expiry at now.
func VerifyInvite(keys map[string]string, s string, now time.Time) (Invite, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, invitePrefix) || len(s) > 2048 {
		return Invite{}, ErrInvalid
	}
	body, sig, ok := strings.Cut(s[len(invitePrefix):], ".")
	if !ok {
		return Invite{}, ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return Invite{}, ErrInvalid
	}
	var p invitePayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return Invite{}, ErrInvalid
	}
	secret, ok := keys[p.Key]
	if !ok || !hmac.Equal([]byte(sig), []byte(mac(secret, body))) {
		return Invite{}, ErrInvalid
	}
	role, ok := ParseRole(string(p.Role))
	if !ok || !ValidRoom(p.Room) || NormalizeRoom(p.Room) != p.Room {
		return Invite{}, ErrInvalid
	}
	inv := Invite{Room: p.Room, Role: role, Expires: time.Unix(p.Expires, 0)}
	if !now.Before(inv.Expires) {
		return inv, ErrExpired
	}
	return inv, nil
}

// JoinToken signs a join token for identity in the invitation's room with its role's grant.
func JoinToken(key, secret string, inv Invite, identity, name string, ttl time.Duration) (string, error) {
	return lkauth.NewAccessToken(key, secret).
		SetIdentity(identity).
		SetName(name).
		SetValidFor(ttl).
		SetVideoGrant(inv.Role.Grant(inv.Room)).
		SetAttributes(map[string]string{RoleAttribute: string(inv.Role)}).
		ToJWT()
}
