package meeting

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	lkauth "github.com/livekit/protocol/auth"

	"github.com/hop-meet/hop/signaling/auth"
)

const (
	testKey    = "hop-test"
	testSecret = "a-secret-long-enough-for-hmac-signing-0123"
)

var testKeys = map[string]string{testKey: testSecret}

func TestNormalizeRoom(t *testing.T) {
	want := NormalizeRoom("Giao ban sáng thứ Hai")
	for _, in := range []string{
		"giao ban sáng thứ hai",
		"  GIAO   BAN\tSÁNG thứ  Hai ",
		norm.NFD.String("Giao ban sáng thứ Hai"),
		norm.NFD.String("GIAO BAN SÁNG THỨ HAI"),
	} {
		if got := NormalizeRoom(in); got != want {
			t.Errorf("NormalizeRoom(%q) = %q, want %q", in, got, want)
		}
	}
	if want != "giao ban sáng thứ hai" || !norm.NFC.IsNormalString(want) {
		t.Errorf("normal form %q", want)
	}
	if NormalizeRoom("Phòng A") == NormalizeRoom("Phong A") {
		t.Error("diacritics must keep rooms apart")
	}
}

func TestValidRoom(t *testing.T) {
	for _, ok := range []string{"abc-defg-hij", "giao ban sáng thứ hai"} {
		if !ValidRoom(ok) {
			t.Errorf("ValidRoom(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", "a/b", "x#y", strings.Repeat("a", MaxRoomRunes+1), "a\x00b"} {
		if ValidRoom(bad) {
			t.Errorf("ValidRoom(%q) = true", bad)
		}
	}
}

func TestCleanName(t *testing.T) {
	if got := CleanName("  Nguyễn   Văn\nAn "); got != "Nguyễn Văn An" {
		t.Errorf("CleanName = %q", got)
	}
	if got := CleanName(norm.NFD.String("Đặng Thị Hà")); got != "Đặng Thị Hà" {
		t.Errorf("CleanName NFD = %q", got)
	}
	if n := len([]rune(CleanName(strings.Repeat("á", 100)))); n != MaxNameRunes {
		t.Errorf("long name kept %d runes", n)
	}
}

func TestCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := NewCode()
		if !IsCode(c) {
			t.Fatalf("NewCode() = %q does not have the code shape", c)
		}
		if NormalizeRoom(c) != c || !ValidRoom(c) {
			t.Fatalf("code %q is not a normal room name", c)
		}
		seen[c] = true
	}
	if len(seen) < 1000 {
		t.Errorf("%d distinct codes of 1000", len(seen))
	}
	for _, bad := range []string{"abc-defg-hi", "abc_defg-hij", "abl-defg-hij", "ABC-DEFG-HIJ"} {
		if IsCode(bad) {
			t.Errorf("IsCode(%q) = true", bad)
		}
	}
}

func TestIdentityFor(t *testing.T) {
	a, b := identityFor("Đỗ Thị Hương"), identityFor("Đỗ Thị Hương")
	if !strings.HasPrefix(a, "do-thi-huong-") || a == b {
		t.Errorf("identities %q, %q", a, b)
	}
	if id := identityFor("李"); !strings.HasPrefix(id, "guest-") {
		t.Errorf("identity %q", id)
	}
}

func TestInviteRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	inv := Invite{Room: "giao ban sáng thứ hai", Role: Viewer, Expires: now.Add(time.Hour)}
	s, err := inv.Sign(testKey, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s {
		if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", r) {
			t.Fatalf("invitation %q is not URL-safe", s)
		}
	}
	got, err := VerifyInvite(testKeys, s, now)
	if err != nil || got.Room != inv.Room || got.Role != Viewer || !got.Expires.Equal(inv.Expires) {
		t.Fatalf("VerifyInvite = %+v, %v", got, err)
	}
	if _, err := VerifyInvite(testKeys, s, now.Add(time.Hour)); err != ErrExpired {
		t.Errorf("at expiry: %v, want %v", err, ErrExpired)
	}
	if _, err := VerifyInvite(map[string]string{testKey: "another-secret-of-some-length-0123456"}, s, now); err != ErrInvalid {
		t.Errorf("other secret: %v", err)
	}
	// A changed role (or any other byte of the body) breaks the signature.
	body, sig, _ := strings.Cut(strings.TrimPrefix(s, invitePrefix), ".")
	forged, _ := Invite{Room: inv.Room, Role: Host, Expires: inv.Expires}.Sign(testKey, "x")
	fbody, _, _ := strings.Cut(strings.TrimPrefix(forged, invitePrefix), ".")
	for _, bad := range []string{invitePrefix + fbody + "." + sig, invitePrefix + body, "", "h1..", s[:len(s)-1], "garbage"} {
		if _, err := VerifyInvite(testKeys, bad, now); err != ErrInvalid {
			t.Errorf("VerifyInvite(%q) = %v, want %v", bad, err, ErrInvalid)
		}
	}
}

func TestRoleGrants(t *testing.T) {
	v := auth.NewVerifier(testKeys)
	for _, c := range []struct {
		role                   Role
		admin, publish, subscr bool
	}{{Host, true, true, true}, {Participant, false, true, true}, {Viewer, false, false, true}} {
		tok, err := JoinToken(testKey, testSecret, Invite{Room: "r", Role: c.role}, "id", "Tên", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		g, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		p := g.Permission()
		if g.IsAdmin("r") != c.admin || p.CanPublish != c.publish || p.CanSubscribe != c.subscr || !p.CanPublishData || !p.CanUpdateMetadata {
			t.Errorf("%s: admin %v, permission %+v", c.role, g.IsAdmin("r"), p)
		}
		if g.Attributes[RoleAttribute] != string(c.role) || g.Name != "Tên" || g.Video.Room != "r" {
			t.Errorf("%s: attributes %v name %q room %q", c.role, g.Attributes, g.Name, g.Video.Room)
		}
	}
}

// server runs the endpoints with a log the test can read.
func server(t *testing.T, cfg Config) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	cfg.Keys = testKeys
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := http.NewServeMux()
	New(cfg).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &logs
}

func post(t *testing.T, url, bearer string, body any) (*http.Response, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res, out
}

func TestJoinExchange(t *testing.T) {
	srv, logs := server(t, Config{})
	inv, _ := Invite{Room: "abc-defg-hij", Role: Host, Expires: time.Now().Add(time.Hour)}.Sign(testKey, testSecret)
	res, body := post(t, srv.URL+"/api/join", "", map[string]string{"invite": inv, "name": " Trần  Văn Bình "})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("join: %d %v", res.StatusCode, body)
	}
	tok, _ := body["token"].(string)
	g, err := auth.NewVerifier(testKeys).Verify(tok)
	if err != nil || !g.IsAdmin("abc-defg-hij") || g.Name != "Trần Văn Bình" || body["role"] != "host" || body["room"] != "abc-defg-hij" {
		t.Fatalf("token grants %+v, %v; body %v", g, err, body)
	}
	if !strings.HasPrefix(body["url"].(string), "ws://") || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("url %v, cache %q", body["url"], res.Header.Get("Cache-Control"))
	}

	expired, _ := Invite{Room: "abc-defg-hij", Role: Participant, Expires: time.Now().Add(-time.Second)}.Sign(testKey, testSecret)
	for _, c := range []struct {
		body   map[string]string
		status int
		code   string
	}{
		{map[string]string{"invite": expired, "name": "An"}, 403, "invite_expired"},
		{map[string]string{"invite": inv + "x", "name": "An"}, 403, "invite_invalid"},
		{map[string]string{"invite": inv, "name": "  "}, 400, "name_required"},
		{map[string]string{"room": "abc-defg-hij", "name": "An"}, 403, "invite_required"},
	} {
		res, body := post(t, srv.URL+"/api/join", "", c.body)
		if res.StatusCode != c.status || body["error"] != c.code {
			t.Errorf("%v: %d %v, want %d %s", c.body, res.StatusCode, body, c.status, c.code)
		}
	}
	if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), inv) || strings.Contains(logs.String(), "eyJ") {
		t.Errorf("a token or invitation was logged:\n%s", logs.String())
	}
}

func TestJoinRateLimited(t *testing.T) {
	srv, _ := server(t, Config{JoinBurst: 3, JoinEvery: time.Minute})
	for i := range 3 {
		if res, _ := post(t, srv.URL+"/api/join", "", map[string]string{"invite": "bad", "name": "A"}); res.StatusCode != 403 {
			t.Fatalf("request %d: %d", i, res.StatusCode)
		}
	}
	res, body := post(t, srv.URL+"/api/join", "", map[string]string{"invite": "bad", "name": "A"})
	if res.StatusCode != http.StatusTooManyRequests || body["error"] != "rate_limited" {
		t.Fatalf("fourth request: %d %v", res.StatusCode, body)
	}
	if ra := res.Header.Get("Retry-After"); ra != "60" {
		t.Errorf("Retry-After %q", ra)
	}
}

func TestDevJoinByRoomName(t *testing.T) {
	srv, _ := server(t, Config{Dev: true})
	res, body := post(t, srv.URL+"/api/join", "", map[string]string{"room": norm.NFD.String("Giao Ban SÁNG"), "name": "An"})
	if res.StatusCode != 200 || body["room"] != "giao ban sáng" || body["role"] != "participant" {
		t.Fatalf("dev join: %d %v", res.StatusCode, body)
	}
}

func TestCreateMeeting(t *testing.T) {
	prod, _ := server(t, Config{})
	if res, body := post(t, prod.URL+"/api/meetings", "", nil); res.StatusCode != 401 || body["error"] != "unauthorized" {
		t.Fatalf("without credential: %d %v", res.StatusCode, body)
	}
	joinOnly, _ := JoinToken(testKey, testSecret, Invite{Room: "x", Role: Host}, "h", "H", time.Hour)
	if res, body := post(t, prod.URL+"/api/meetings", joinOnly, nil); res.StatusCode != 403 || body["error"] != "forbidden" {
		t.Fatalf("join token as credential: %d %v", res.StatusCode, body)
	}
	org := orgToken(t)
	res, body := post(t, prod.URL+"/api/meetings", org, nil)
	if res.StatusCode != 200 || !IsCode(body["room"].(string)) {
		t.Fatalf("organiser: %d %v", res.StatusCode, body)
	}
	host, err := VerifyInvite(testKeys, body["hostInvite"].(string), time.Now())
	if err != nil || host.Role != Host || host.Room != body["room"] {
		t.Fatalf("host invite %+v %v", host, err)
	}
	part, err := VerifyInvite(testKeys, body["invite"].(string), time.Now())
	if err != nil || part.Role != Participant {
		t.Fatalf("participant invite %+v %v", part, err)
	}
	res, body = post(t, prod.URL+"/api/meetings", org, map[string]string{"room": "Họp  Tuần"})
	if res.StatusCode != 200 || body["room"] != "họp tuần" {
		t.Fatalf("named meeting: %d %v", res.StatusCode, body)
	}

	dev, _ := server(t, Config{Dev: true})
	if res, body := post(t, dev.URL+"/api/meetings", "", nil); res.StatusCode != 200 || !IsCode(body["room"].(string)) {
		t.Fatalf("dev: %d %v", res.StatusCode, body)
	}
}

func orgToken(t *testing.T) string {
	t.Helper()
	// An organiser's token: roomCreate, no room.
	g := Viewer.Grant("")
	g.RoomJoin = false
	g.RoomCreate = true
	tok, err := lkToken(g)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestInvitesEndpoint(t *testing.T) {
	srv, _ := server(t, Config{})
	host, _ := JoinToken(testKey, testSecret, Invite{Room: "abc-defg-hij", Role: Host}, "h", "H", time.Hour)
	part, _ := JoinToken(testKey, testSecret, Invite{Room: "abc-defg-hij", Role: Participant}, "p", "P", time.Hour)
	otherHost, _ := JoinToken(testKey, testSecret, Invite{Room: "zzz-zzzz-zzz", Role: Host}, "o", "O", time.Hour)
	req := map[string]any{"room": "abc-defg-hij", "role": "viewer", "expiresIn": 600}
	res, body := post(t, srv.URL+"/api/invites", host, req)
	if res.StatusCode != 200 {
		t.Fatalf("host: %d %v", res.StatusCode, body)
	}
	inv, err := VerifyInvite(testKeys, body["invite"].(string), time.Now())
	if err != nil || inv.Role != Viewer || time.Until(inv.Expires) > 601*time.Second {
		t.Fatalf("invite %+v %v", inv, err)
	}
	for _, c := range []struct {
		tok    string
		status int
	}{{"", 401}, {part, 403}, {otherHost, 403}} {
		if res, body := post(t, srv.URL+"/api/invites", c.tok, req); res.StatusCode != c.status {
			t.Errorf("token %.10q: %d %v, want %d", c.tok, res.StatusCode, body, c.status)
		}
	}
	if res, body := post(t, srv.URL+"/api/invites", host, map[string]any{"room": "abc-defg-hij", "expiresIn": 1 << 40}); res.StatusCode != 400 || body["error"] != "expires_invalid" {
		t.Errorf("huge lifetime: %d %v", res.StatusCode, body)
	}
}

func lkToken(g *lkauth.VideoGrant) (string, error) {
	return lkauth.NewAccessToken(testKey, testSecret).SetIdentity("org").SetValidFor(time.Hour).SetVideoGrant(g).ToJWT()
}
