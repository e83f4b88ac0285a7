// Package auth verifies LiveKit access tokens and answers what their video grant allows.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
)

// Error is an authentication or authorisation failure with the HTTP status a client should see.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return e.Reason }

func unauthorized(format string, a ...any) *Error {
	return &Error{Status: http.StatusUnauthorized, Reason: fmt.Sprintf(format, a...)}
}

func forbidden(format string, a ...any) *Error {
	return &Error{Status: http.StatusForbidden, Reason: fmt.Sprintf(format, a...)}
}

// Status returns the HTTP status for err: the one an *Error carries, else 500.
func Status(err error) int {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return http.StatusInternalServerError
}

// KeyProvider finds the secret of an API key: the node's static keys today, accounts later.
type KeyProvider interface {
	Secret(apiKey string) (secret string, ok bool)
}

// StaticKeys is a fixed key→secret map.
type StaticKeys map[string]string

// Secret implements KeyProvider.
func (k StaticKeys) Secret(apiKey string) (string, bool) {
	s, ok := k[apiKey]
	return s, ok
}

// Verifier checks tokens against the keys its provider knows.
type Verifier struct {
	keys KeyProvider
}

// NewVerifier makes a verifier for the given key→secret map.
func NewVerifier(keys map[string]string) *Verifier {
	cp := make(StaticKeys, len(keys))
	for k, v := range keys {
		cp[k] = v
	}
	return &Verifier{keys: cp}
}

// NewVerifierWith makes a verifier over any key provider.
func NewVerifierWith(keys KeyProvider) *Verifier { return &Verifier{keys: keys} }

// Grants is what a verified token allows.
type Grants struct {
	*lkauth.ClaimGrants
	APIKey    string
	ExpiresAt time.Time
}

// Verify parses and checks a token's signature, key and expiry.
func (v *Verifier) Verify(token string) (*Grants, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, unauthorized("missing access token")
	}
	parsed, err := lkauth.ParseAPIToken(token)
	if err != nil {
		return nil, unauthorized("malformed access token: %v", err)
	}
	secret, ok := v.keys.Secret(parsed.APIKey())
	if !ok {
		return nil, unauthorized("access token signed with unknown API key %q", parsed.APIKey())
	}
	claims, grants, err := parsed.Verify(secret)
	if err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return nil, unauthorized("access token expired")
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			return nil, unauthorized("access token signature is invalid")
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			return nil, unauthorized("access token not valid yet")
		default:
			return nil, unauthorized("invalid access token: %v", err)
		}
	}
	g := &Grants{ClaimGrants: grants, APIKey: parsed.APIKey()}
	if claims.ExpiresAt != nil {
		g.ExpiresAt = claims.ExpiresAt.Time
	}
	return g, nil
}

// CheckJoin reports why these grants may not join room (empty room means the token's own room).
// It returns the room to join.
func (g *Grants) CheckJoin(room string) (string, error) {
	if g.Video == nil || !g.Video.RoomJoin {
		return "", forbidden("permissions denied: token has no roomJoin grant")
	}
	if g.Identity == "" {
		return "", unauthorized("access token has no identity")
	}
	if room == "" {
		room = g.Video.Room
	}
	if room == "" {
		return "", forbidden("permissions denied: token names no room")
	}
	if g.Video.Room != "" && g.Video.Room != room {
		return "", forbidden("permissions denied: token is for room %q, not %q", g.Video.Room, room)
	}
	return room, nil
}

// IsAdmin reports whether the grants allow administering room.
func (g *Grants) IsAdmin(room string) bool {
	return g.Video != nil && g.Video.RoomAdmin && (g.Video.Room == "" || g.Video.Room == room)
}

// Permission turns the video grant into the participant permission sent to clients.
func (g *Grants) Permission() *livekit.ParticipantPermission {
	if g.Video == nil {
		return &livekit.ParticipantPermission{}
	}
	return g.Video.ToPermission()
}

// CanPublishSource reports whether perm allows publishing a track of this source.
// An empty source list means every source; a non-empty list supersedes canPublish for listed sources.
func CanPublishSource(perm *livekit.ParticipantPermission, source livekit.TrackSource) bool {
	if perm == nil || !perm.CanPublish {
		return false
	}
	if len(perm.CanPublishSources) == 0 {
		return true
	}
	for _, s := range perm.CanPublishSources {
		if s == source {
			return true
		}
	}
	return false
}

// NewToken signs a join token; used by `hop token` and by tests.
func NewToken(key, secret, room, identity string, ttl time.Duration, admin bool, name string) (string, error) {
	if ttl <= 0 {
		return "", errors.New("token lifetime must be positive")
	}
	t := lkauth.NewAccessToken(key, secret).
		SetIdentity(identity).
		SetValidFor(ttl).
		SetVideoGrant(&lkauth.VideoGrant{RoomJoin: true, Room: room, RoomAdmin: admin})
	if name != "" {
		t.SetName(name)
	}
	return t.ToJWT()
}
