package recorder_test

import (
	"net/http"
	"strings"
	"testing"

	lkauth "github.com/livekit/protocol/auth"

	"github.com/hop-meet/hop/internal/testkit"
)

// The Egress API needs a token with roomRecord, for the room it names; it refuses a body over the
// limit before reading it whole.
func TestEgressNeedsRoomRecord(t *testing.T) {
	n := testkit.StartNode(t, nil)
	call := func(method, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, n.HTTPURL+"/twirp/livekit.Egress/"+method, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		k, _ := resp.Body.Read(buf)
		b.Write(buf[:k])
		return resp.StatusCode, b.String()
	}
	admin := n.TokenWith(t, "rec", "admin", func(g *lkauth.VideoGrant) { g.RoomAdmin = true })
	recorder := n.TokenWith(t, "rec", "rec", func(g *lkauth.VideoGrant) { g.RoomRecord = true })
	cases := []struct {
		name, method, token, body string
		status                    int
		says                      string
	}{
		{"no token", "ListEgress", "", `{}`, http.StatusUnauthorized, "unauthenticated"},
		{"bad token", "ListEgress", "x.y.z", `{}`, http.StatusUnauthorized, "unauthenticated"},
		{"admin but not recorder", "ListEgress", admin, `{}`, http.StatusForbidden, "roomRecord"},
		{"admin starts", "StartTrackEgress", admin, `{"room_name":"rec","track_id":"TR_x"}`, http.StatusForbidden, "roomRecord"},
		{"another room", "StartRoomCompositeEgress", recorder, `{"room_name":"other"}`, http.StatusForbidden, "token is for room rec"},
		{"no such room", "StartRoomCompositeEgress", recorder, `{"room_name":"rec"}`, http.StatusNotFound, "not on this node"},
		{"too large", "ListEgress", recorder, `{"room_name":"` + strings.Repeat("a", 2<<20) + `"}`, http.StatusBadRequest, "larger"},
		{"list", "ListEgress", recorder, `{"room_name":"rec"}`, http.StatusOK, "{"},
	}
	for _, c := range cases {
		status, body := call(c.method, c.token, c.body)
		if status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s: %d %s, want %d saying %q", c.name, status, body, c.status, c.says)
		}
	}
}
