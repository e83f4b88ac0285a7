package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livekit/protocol/livekit"
)

const (
	testKey    = "APIkey1"
	testSecret = "a-long-enough-secret-for-hs256-signing"
	otherKey   = "APIkey2"
	otherSec   = "another-secret-of-reasonable-length!!"
)

func testVerifier() *Verifier {
	return NewVerifier(map[string]string{testKey: testSecret, otherKey: otherSec})
}

// sign makes an HS256 token from raw claims, as any third-party minter would.
func sign(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(iss, sub string, exp time.Time, video map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"iss": iss, "exp": exp.Unix(), "nbf": time.Now().Add(-time.Minute).Unix()}
	if sub != "" {
		c["sub"] = sub
	}
	if video != nil {
		c["video"] = video
	}
	return c
}

func wantAuthError(t *testing.T, err error, status int, reason string) {
	t.Helper()
	var ae *Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *auth.Error", err, err)
	}
	if ae.Status != status {
		t.Errorf("status %d, want %d (%s)", ae.Status, status, ae.Reason)
	}
	if !strings.Contains(ae.Reason, reason) {
		t.Errorf("reason %q does not mention %q", ae.Reason, reason)
	}
	if ae.Error() != ae.Reason {
		t.Errorf("Error() = %q, want the reason", ae.Error())
	}
	if Status(err) != status {
		t.Errorf("Status(err) = %d, want %d", Status(err), status)
	}
}

func TestVerify(t *testing.T) {
	now := time.Now()
	join := map[string]any{"roomJoin": true, "room": "r1"}
	valid := sign(t, testSecret, claims(testKey, "alice", now.Add(time.Hour), join))

	tests := []struct {
		name   string
		token  string
		reason string // empty: valid
	}{
		{"valid", valid, ""},
		{"valid with surrounding space", "  " + valid + "\n", ""},
		{"valid, second key", sign(t, otherSec, claims(otherKey, "bob", now.Add(time.Hour), join)), ""},
		{"made by NewToken", mustNewToken(t), ""},
		{"expired 3 minutes ago", sign(t, testSecret, claims(testKey, "alice", now.Add(-3*time.Minute), join)), "expired"},
		{"not valid for 3 more minutes", sign(t, testSecret, jwt.MapClaims{
			"iss": testKey, "sub": "alice", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(3 * time.Minute).Unix(), "video": join,
		}), "not valid yet"},
		{"no expiry", sign(t, testSecret, jwt.MapClaims{"iss": testKey, "sub": "alice", "video": join}), "invalid access token"},
		{"wrong secret", sign(t, "not-the-secret-at-all-not-the-secret", claims(testKey, "alice", now.Add(time.Hour), join)), "signature is invalid"},
		{"other key's secret", sign(t, otherSec, claims(testKey, "alice", now.Add(time.Hour), join)), "signature is invalid"},
		{"unknown key", sign(t, testSecret, claims("nokey", "alice", now.Add(time.Hour), join)), `unknown API key "nokey"`},
		{"no issuer", sign(t, testSecret, claims("", "alice", now.Add(time.Hour), join)), "unknown API key"},
		{"malformed", "not.a.jwt", "malformed access token"},
		{"garbage", "garbage", "malformed access token"},
		{"two segments", strings.Join(strings.Split(valid, ".")[:2], "."), "malformed access token"},
		{"tampered payload", tamper(t, valid), ""},
		{"empty", "", "missing access token"},
		{"whitespace", " \t\n", "missing access token"},
		{"alg none", noneToken(now), "signature is invalid"},
	}
	v := testVerifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := v.Verify(tt.token)
			if tt.name == "tampered payload" {
				// Re-encoding a changed payload must break the signature.
				if err == nil {
					t.Fatal("tampered token accepted")
				}
				wantAuthError(t, err, http.StatusUnauthorized, "")
				return
			}
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("valid token refused: %v", err)
				}
				if g == nil || g.ClaimGrants == nil || g.Video == nil || !g.Video.RoomJoin {
					t.Fatalf("grants not filled: %+v", g)
				}
				if g.APIKey != testKey && g.APIKey != otherKey {
					t.Errorf("APIKey %q", g.APIKey)
				}
				if g.Identity == "" {
					t.Error("identity empty")
				}
				if g.ExpiresAt.Before(now) {
					t.Errorf("ExpiresAt %v is in the past", g.ExpiresAt)
				}
				return
			}
			if g != nil {
				t.Errorf("grants returned with an error: %+v", g)
			}
			wantAuthError(t, err, http.StatusUnauthorized, tt.reason)
		})
	}
}

func mustNewToken(t *testing.T) string {
	t.Helper()
	s, err := NewToken(testKey, testSecret, "r1", "carol", time.Hour, false, "Carol")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tamper changes the identity in a token's payload and keeps the old signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	var c jwt.MapClaims
	p := jwt.NewParser()
	if _, _, err := p.ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	c["sub"] = "mallory"
	forged := sign(t, "whatever-secret-whatever-secret-123", c)
	return strings.Join([]string{strings.Split(forged, ".")[0], strings.Split(forged, ".")[1], parts[2]}, ".")
}

func noneToken(now time.Time) string {
	s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(testKey, "alice", now.Add(time.Hour),
		map[string]any{"roomJoin": true})).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}

func TestVerifyWrongAlgorithm(t *testing.T) {
	now := time.Now()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims(testKey, "alice", now.Add(time.Hour),
		map[string]any{"roomJoin": true})).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	g, err := testVerifier().Verify(s)
	if err == nil {
		t.Fatalf("HS512 token accepted: %+v", g)
	}
	wantAuthError(t, err, http.StatusUnauthorized, "")
}

func TestVerifierCopiesKeys(t *testing.T) {
	keys := map[string]string{testKey: testSecret}
	v := NewVerifier(keys)
	keys[testKey] = "changed-after-the-fact-changed-after"
	delete(keys, testKey)
	if _, err := v.Verify(mustNewToken(t)); err != nil {
		t.Fatalf("verifier shares the caller's map: %v", err)
	}
}

func TestVerifyExpiresAt(t *testing.T) {
	exp := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	g, err := testVerifier().Verify(sign(t, testSecret, claims(testKey, "a", exp, map[string]any{"roomJoin": true})))
	if err != nil {
		t.Fatal(err)
	}
	if !g.ExpiresAt.Equal(exp) {
		t.Fatalf("ExpiresAt = %v, want %v", g.ExpiresAt, exp)
	}
}

func grantsFor(t *testing.T, sub string, video map[string]any) *Grants {
	t.Helper()
	c := claims(testKey, sub, time.Now().Add(time.Hour), video)
	g, err := testVerifier().Verify(sign(t, testSecret, c))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return g
}

func TestCheckJoin(t *testing.T) {
	tests := []struct {
		name    string
		sub     string
		video   map[string]any
		room    string
		want    string
		status  int
		inError string
	}{
		{name: "token room, no request", sub: "a", video: map[string]any{"roomJoin": true, "room": "r1"}, want: "r1"},
		{name: "token room, same request", sub: "a", video: map[string]any{"roomJoin": true, "room": "r1"}, room: "r1", want: "r1"},
		{name: "no token room, requested room", sub: "a", video: map[string]any{"roomJoin": true}, room: "r2", want: "r2"},
		{name: "room mismatch", sub: "a", video: map[string]any{"roomJoin": true, "room": "r1"}, room: "r2", status: 403, inError: `"r1", not "r2"`},
		{name: "room differs in case", sub: "a", video: map[string]any{"roomJoin": true, "room": "r1"}, room: "R1", status: 403, inError: "not"},
		{name: "no room anywhere", sub: "a", video: map[string]any{"roomJoin": true}, status: 403, inError: "names no room"},
		{name: "no roomJoin", sub: "a", video: map[string]any{"room": "r1", "roomAdmin": true}, room: "r1", status: 403, inError: "roomJoin"},
		{name: "roomJoin false", sub: "a", video: map[string]any{"roomJoin": false, "room": "r1"}, status: 403, inError: "roomJoin"},
		{name: "no video grant", sub: "a", video: nil, room: "r1", status: 403, inError: "roomJoin"},
		{name: "no identity", sub: "", video: map[string]any{"roomJoin": true, "room": "r1"}, status: 401, inError: "identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := grantsFor(t, tt.sub, tt.video)
			room, err := g.CheckJoin(tt.room)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("CheckJoin: %v", err)
				}
				if room != tt.want {
					t.Fatalf("room %q, want %q", room, tt.want)
				}
				return
			}
			if room != "" {
				t.Errorf("room %q returned with an error", room)
			}
			wantAuthError(t, err, tt.status, tt.inError)
		})
	}
}

func TestIdentityFromJTI(t *testing.T) {
	c := claims(testKey, "", time.Now().Add(time.Hour), map[string]any{"roomJoin": true, "room": "r"})
	c["jti"] = "from-jti"
	g, err := testVerifier().Verify(sign(t, testSecret, c))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.CheckJoin(""); err != nil {
		t.Fatalf("identity taken from jti should allow joining: %v", err)
	}
	if g.Identity != "from-jti" {
		t.Fatalf("identity %q", g.Identity)
	}
}

func TestIsAdmin(t *testing.T) {
	tests := []struct {
		video map[string]any
		room  string
		want  bool
	}{
		{map[string]any{"roomAdmin": true, "room": "r1"}, "r1", true},
		{map[string]any{"roomAdmin": true, "room": "r1"}, "r2", false},
		{map[string]any{"roomAdmin": true}, "any", true},
		{map[string]any{"roomJoin": true, "room": "r1"}, "r1", false},
		{nil, "r1", false},
	}
	for i, tt := range tests {
		if got := grantsFor(t, "a", tt.video).IsAdmin(tt.room); got != tt.want {
			t.Errorf("case %d: IsAdmin(%q) = %v, want %v", i, tt.room, got, tt.want)
		}
	}
}

func TestCanPublishSource(t *testing.T) {
	all := []livekit.TrackSource{
		livekit.TrackSource_UNKNOWN, livekit.TrackSource_CAMERA, livekit.TrackSource_MICROPHONE,
		livekit.TrackSource_SCREEN_SHARE, livekit.TrackSource_SCREEN_SHARE_AUDIO,
	}
	tests := []struct {
		name string
		perm *livekit.ParticipantPermission
		want map[livekit.TrackSource]bool
	}{
		{"nil permission", nil, nil},
		{"canPublish false", &livekit.ParticipantPermission{CanPublish: false}, nil},
		{"canPublish false with sources", &livekit.ParticipantPermission{
			CanPublish: false, CanPublishSources: []livekit.TrackSource{livekit.TrackSource_CAMERA},
		}, nil},
		{"canPublish, no list: everything", &livekit.ParticipantPermission{CanPublish: true}, map[livekit.TrackSource]bool{
			livekit.TrackSource_UNKNOWN: true, livekit.TrackSource_CAMERA: true, livekit.TrackSource_MICROPHONE: true,
			livekit.TrackSource_SCREEN_SHARE: true, livekit.TrackSource_SCREEN_SHARE_AUDIO: true,
		}},
		{"list restricts", &livekit.ParticipantPermission{
			CanPublish: true, CanPublishSources: []livekit.TrackSource{livekit.TrackSource_CAMERA, livekit.TrackSource_MICROPHONE},
		}, map[livekit.TrackSource]bool{livekit.TrackSource_CAMERA: true, livekit.TrackSource_MICROPHONE: true}},
		{"screen share only", &livekit.ParticipantPermission{
			CanPublish: true, CanPublishSources: []livekit.TrackSource{livekit.TrackSource_SCREEN_SHARE},
		}, map[livekit.TrackSource]bool{livekit.TrackSource_SCREEN_SHARE: true}},
	}
	for _, tt := range tests {
		for _, src := range all {
			if got := CanPublishSource(tt.perm, src); got != tt.want[src] {
				t.Errorf("%s: CanPublishSource(%v) = %v, want %v", tt.name, src, got, tt.want[src])
			}
		}
	}
}

func TestPermissionFromToken(t *testing.T) {
	tests := []struct {
		name   string
		video  map[string]any
		allow  []livekit.TrackSource
		deny   []livekit.TrackSource
		canSub bool
	}{
		{
			name:   "defaults allow everything",
			video:  map[string]any{"roomJoin": true},
			allow:  []livekit.TrackSource{livekit.TrackSource_CAMERA, livekit.TrackSource_SCREEN_SHARE},
			canSub: true,
		},
		{
			name:   "canPublish false",
			video:  map[string]any{"roomJoin": true, "canPublish": false, "canSubscribe": true},
			deny:   []livekit.TrackSource{livekit.TrackSource_CAMERA, livekit.TrackSource_MICROPHONE},
			canSub: true,
		},
		{
			name:  "sources restrict",
			video: map[string]any{"roomJoin": true, "canPublishSources": []string{"camera", "microphone"}, "canSubscribe": false},
			allow: []livekit.TrackSource{livekit.TrackSource_CAMERA, livekit.TrackSource_MICROPHONE},
			deny:  []livekit.TrackSource{livekit.TrackSource_SCREEN_SHARE, livekit.TrackSource_SCREEN_SHARE_AUDIO},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			perm := grantsFor(t, "a", tt.video).Permission()
			for _, s := range tt.allow {
				if !CanPublishSource(perm, s) {
					t.Errorf("%v denied", s)
				}
			}
			for _, s := range tt.deny {
				if CanPublishSource(perm, s) {
					t.Errorf("%v allowed", s)
				}
			}
			if perm.CanSubscribe != tt.canSub {
				t.Errorf("CanSubscribe = %v, want %v", perm.CanSubscribe, tt.canSub)
			}
		})
	}
	// No video grant at all: an empty permission, which allows nothing.
	perm := grantsFor(t, "a", nil).Permission()
	if perm == nil || perm.CanPublish || perm.CanSubscribe || CanPublishSource(perm, livekit.TrackSource_CAMERA) {
		t.Errorf("no video grant gives %+v", perm)
	}
}

func TestStatus(t *testing.T) {
	if s := Status(&Error{Status: 418, Reason: "x"}); s != 418 {
		t.Errorf("Status = %d", s)
	}
	if s := Status(fmt.Errorf("wrapped: %w", &Error{Status: 403})); s != 403 {
		t.Errorf("wrapped Status = %d", s)
	}
	if s := Status(errors.New("plain")); s != http.StatusInternalServerError {
		t.Errorf("plain error Status = %d", s)
	}
}

func TestNewTokenRoundTrip(t *testing.T) {
	tok, err := NewToken(testKey, testSecret, "room9", "dave", time.Hour, true, "Dave")
	if err != nil {
		t.Fatal(err)
	}
	g, err := testVerifier().Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	room, err := g.CheckJoin("")
	if err != nil || room != "room9" {
		t.Fatalf("CheckJoin = %q, %v", room, err)
	}
	if g.Identity != "dave" || g.Name != "Dave" || !g.IsAdmin("room9") || g.IsAdmin("other") {
		t.Fatalf("grants %+v", g.ClaimGrants)
	}
	if d := time.Until(g.ExpiresAt); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("expires in %v", d)
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Now()
	join := map[string]any{"roomJoin": true, "room": "r1"}
	f.Add(sign(f, testSecret, claims(testKey, "alice", now.Add(24*time.Hour), join)))
	f.Add(sign(f, testSecret, claims(testKey, "alice", now.Add(-3*time.Minute), join)))
	f.Add(sign(f, otherSec, claims(testKey, "alice", now.Add(time.Hour), join)))
	f.Add(sign(f, testSecret, claims("nokey", "alice", now.Add(time.Hour), join)))
	f.Add(sign(f, testSecret, jwt.MapClaims{"iss": testKey, "exp": "soon", "video": "x"}))
	f.Add(noneToken(now))
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Add("Bearer x")
	v := testVerifier()
	f.Fuzz(func(t *testing.T, tok string) {
		g, err := v.Verify(tok)
		if err != nil {
			if g != nil {
				t.Fatal("grants and error both returned")
			}
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *auth.Error", err, err)
			}
			if ae.Status != http.StatusUnauthorized || ae.Reason == "" {
				t.Fatalf("error %+v", ae)
			}
			return
		}
		if g == nil || g.ClaimGrants == nil {
			t.Fatal("no grants and no error")
		}
		if g.APIKey != testKey && g.APIKey != otherKey {
			t.Fatalf("verified with unknown key %q", g.APIKey)
		}
		// Whatever the grants say, asking about them must not panic.
		_, _ = g.CheckJoin("")
		_, _ = g.CheckJoin("r1")
		_ = g.IsAdmin("r1")
		_ = CanPublishSource(g.Permission(), livekit.TrackSource_CAMERA)
	})
}

// rotatingKeys is a provider whose keys change after the verifier was made, as accounts will.
type rotatingKeys struct{ m map[string]string }

func (r *rotatingKeys) Secret(k string) (string, bool) { s, ok := r.m[k]; return s, ok }

// Tokens are checked against whatever the provider knows at the time of the check.
func TestVerifierAsksItsKeyProvider(t *testing.T) {
	keys := &rotatingKeys{m: map[string]string{}}
	v := NewVerifierWith(keys)
	tok, err := NewToken("acct1", "a-secret-of-at-least-32-characters!!", "r", "alice", time.Minute, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err == nil {
		t.Fatal("token of an unknown key accepted")
	}
	keys.m["acct1"] = "a-secret-of-at-least-32-characters!!"
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("token of a key added since: %v", err)
	}
}
