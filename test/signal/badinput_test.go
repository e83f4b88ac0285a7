package signal_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// expiredToken is a correctly signed token that expired three minutes ago (beyond the clock leeway).
func expiredToken(t *testing.T) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss":   config.DevAPIKey,
		"sub":   "u",
		"nbf":   time.Now().Add(-time.Hour).Unix(),
		"exp":   time.Now().Add(-3 * time.Minute).Unix(),
		"video": map[string]any{"roomJoin": true, "room": "r1"},
	}).SignedString([]byte(config.DevAPISecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func token(t *testing.T, key, secret string, ttl time.Duration, grant *lkauth.VideoGrant, identity string) string {
	t.Helper()
	tok, err := lkauth.NewAccessToken(key, secret).SetIdentity(identity).SetValidFor(ttl).SetVideoGrant(grant).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Every kind of bad token gets a clear HTTP error with a JSON reason, on the validate endpoints and
// on the websocket upgrade itself.
func TestBadTokensAreRefusedWithReason(t *testing.T) {
	n := testkit.StartNode(t, nil)
	good := &lkauth.VideoGrant{RoomJoin: true, Room: "r1"}
	cases := []struct {
		name   string
		token  string
		query  string
		status int
		reason string
	}{
		{"missing", "", "", 401, "missing access token"},
		{"malformed", "not.a.jwt", "", 401, "malformed access token"},
		{"expired", expiredToken(t), "", 401, "expired"},
		{"unknown key", token(t, "otherkey", "othersecretothersecret", time.Hour, good, "u"), "", 401, "unknown API key"},
		{"wrong secret", token(t, config.DevAPIKey, "not-the-secret-at-all", time.Hour, good, "u"), "", 401, "signature is invalid"},
		{"other room", token(t, config.DevAPIKey, config.DevAPISecret, time.Hour, good, "u"), "&room=r2", 403, `token is for room "r1"`},
		{"no join grant", token(t, config.DevAPIKey, config.DevAPISecret, time.Hour, &lkauth.VideoGrant{Room: "r1"}, "u"), "", 403, "no roomJoin grant"},
		{"no identity", token(t, config.DevAPIKey, config.DevAPISecret, time.Hour, good, ""), "", 401, "no identity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"/rtc/validate", "/rtc/v1/validate?join_request=CAA"} {
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				status, reason := httpGet(t, n.HTTPURL+path+sep+"access_token="+url.QueryEscape(c.token)+c.query, nil)
				if status != c.status || !strings.Contains(reason, c.reason) {
					t.Errorf("GET %s: %d %q, want %d containing %q", path, status, reason, c.status, c.reason)
				}
			}
			// The websocket upgrade is refused the same way.
			_, resp, err := websocket.DefaultDialer.Dial(n.URL()+"/rtc?access_token="+url.QueryEscape(c.token)+c.query, nil)
			if err == nil {
				t.Fatal("websocket upgrade accepted a bad token")
			}
			if resp == nil || resp.StatusCode != c.status {
				t.Fatalf("upgrade: %v, want HTTP %d", err, c.status)
			}
			var body struct{ Reason string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || !strings.Contains(body.Reason, c.reason) {
				t.Errorf("upgrade answered %q (%v), want a JSON reason saying %q", body.Reason, err, c.reason)
			}
		})
	}
	// The header form server-sdk-go uses works too.
	status, body := httpGet(t, n.HTTPURL+"/rtc/validate", http.Header{"Authorization": {"Bearer " + n.Token(t, "r1", "u")}})
	if status != 200 || body != "success" {
		t.Errorf("valid token: %d %q", status, body)
	}
}

// A client that sends garbage is disconnected with the reason; everyone else carries on.
func TestMalformedProtobufClosesOnlyThatClient(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) { c.Room.ResumeWindow = 200 * time.Millisecond })
	alice := dialRaw(t, n, n.Token(t, "r", "alice"))
	alice.join()
	bob := dialRaw(t, n, n.Token(t, "r", "bob"))
	bobInfo := bob.join().GetParticipant()

	if err := bob.conn.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0xff, 0xff, 0x01, 0x02}); err != nil {
		t.Fatal(err)
	}
	_, err := bob.waitClose(5 * time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseInvalidFramePayloadData || !strings.Contains(ce.Text, "malformed signal request") {
		t.Fatalf("bob's connection ended with %v, want close 1007 'malformed signal request'", err)
	}
	// Bob is gone from the room and alice is told so.
	alice.next(5*time.Second, func(m *livekit.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.Sid == bobInfo.Sid && p.State == livekit.ParticipantInfo_DISCONNECTED {
				return true
			}
		}
		return false
	})
	alice.ping(42)
}

// A message over the size limit closes that client with 1009 and the reason.
func TestOversizedMessageIsRefused(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) { c.Limits.MaxSignalMessage = 64 << 10 })
	alice := dialRaw(t, n, n.Token(t, "r", "alice"))
	alice.join()
	bob := dialRaw(t, n, n.Token(t, "r", "bob"))
	bob.join()
	big := &livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{
		Metadata: strings.Repeat("x", 100<<10)}}}
	// The server may refuse the message before bob has finished writing it: bob's reader then
	// answers the server's close frame, and the rest of the write fails with ErrCloseSent.
	if err := bob.trySend(big); err != nil && !errors.Is(err, websocket.ErrCloseSent) {
		t.Fatalf("send: %v", err)
	}
	_, err := bob.waitClose(5 * time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig || !strings.Contains(ce.Text, "signal message too large") {
		t.Fatalf("oversized message: connection ended with %v, want close 1009 'signal message too large'", err)
	}
	alice.ping(7)
}

// Requests that make no sense at this point get an error response or end only this client's session.
func TestOutOfOrderAndInvalidRequests(t *testing.T) {
	n := testkit.StartNode(t, nil)
	alice := dialRaw(t, n, n.Token(t, "r", "alice"))
	alice.join()

	t.Run("recoverable", func(t *testing.T) {
		c := dialRaw(t, n, n.Token(t, "r", "carol"))
		c.join()
		// A candidate before any offer is kept for later, not an error.
		c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{
			CandidateInit: `{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 9 typ host","sdpMid":"0"}`}}})
		// Malformed candidate JSON is ignored.
		c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{Trickle: &livekit.TrickleRequest{CandidateInit: `{nope`}}})
		// A data track type cannot be published.
		c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
			Cid: "x", Type: livekit.TrackType_DATA}}})
		c.next(5*time.Second, func(m *livekit.SignalResponse) bool {
			return m.GetRequestResponse().GetReason() == livekit.RequestResponse_UNSUPPORTED_TYPE
		})
		// Subscribing to a track that does not exist.
		c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{
			TrackSids: []string{"TR_nope"}, Subscribe: true}}})
		c.next(5*time.Second, func(m *livekit.SignalResponse) bool {
			return m.GetSubscriptionResponse().GetErr() == livekit.SubscriptionError_SE_TRACK_NOTFOUND
		})
		// Metadata without the grant.
		c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{
			RequestId: 9, Metadata: "hi"}}})
		r := c.next(5*time.Second, func(m *livekit.SignalResponse) bool { return m.GetRequestResponse().GetRequestId() == 9 })
		if r.GetRequestResponse().Reason != livekit.RequestResponse_NOT_ALLOWED {
			t.Errorf("metadata update without grant: %v", r.GetRequestResponse())
		}
		// Muting a track that does not exist.
		c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Mute{Mute: &livekit.MuteTrackRequest{Sid: "TR_nope", Muted: true}}})
		c.next(5*time.Second, func(m *livekit.SignalResponse) bool {
			return m.GetRequestResponse().GetReason() == livekit.RequestResponse_NOT_FOUND
		})
		c.ping(1)
	})

	for _, bad := range []struct {
		name string
		req  *livekit.SignalRequest
	}{
		{"invalid offer sdp", &livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0\r\nthis is not sdp"}}}},
		{"empty offer", &livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer"}}}},
		{"invalid answer sdp", &livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{Type: "answer", Sdp: "garbage", Id: 1}}}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			c := dialRaw(t, n, n.Token(t, "r", "dave-"+strings.ReplaceAll(bad.name, " ", "-")))
			c.join()
			c.send(bad.req)
			leave, _ := c.waitClose(5 * time.Second)
			if leave == nil || leave.Reason != livekit.DisconnectReason_STATE_MISMATCH {
				t.Fatalf("got leave %v, want a leave with reason STATE_MISMATCH", leave)
			}
		})
	}
	alice.ping(3)
}

// A client that vanishes right after joining (no leave, no media) is removed once the resume window
// passes; the others are told, and nothing it started keeps running.
func TestClientVanishingMidJoin(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) { c.Room.ResumeWindow = 300 * time.Millisecond })
	alice := dialRaw(t, n, n.Token(t, "r", "alice"))
	alice.join()
	ghost := dialRaw(t, n, n.Token(t, "r", "ghost"))
	info := ghost.join().GetParticipant()
	// Drop the TCP connection without a close frame.
	_ = ghost.conn.UnderlyingConn().Close()
	alice.next(5*time.Second, func(m *livekit.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.Sid == info.Sid && p.State == livekit.ParticipantInfo_DISCONNECTED {
				return true
			}
		}
		return false
	})
	if r := n.Rooms().Room("r"); r == nil || r.Participant("ghost") != nil {
		t.Fatal("ghost is still in the room")
	}
	alice.ping(5)
}
