package meeting

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"
)

// scriptedGate is a meeting whose rules the test sets: an admission code, and a lobby decision
// the test makes while the page polls.
type scriptedGate struct {
	mu        sync.Mutex
	admission string
	gotPW     string
	decision  chan error
	knocks    int
	withdrawn []string
}

func (g *scriptedGate) Admission(_, _ string, _ Role, password string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gotPW = password
	return g.admission
}

func (g *scriptedGate) Knock(_, _, _, _ string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.knocks++
	return "T1"
}

func (g *scriptedGate) Withdraw(_, ticket string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.withdrawn = append(g.withdrawn, ticket)
	return nil
}

func (g *scriptedGate) Await(ctx context.Context, _, ticket string, _ time.Duration) error {
	if ticket != "T1" {
		return ErrTicketUnknown
	}
	select {
	case err := <-g.decision:
		return err
	case <-time.After(50 * time.Millisecond):
		return context.DeadlineExceeded
	case <-ctx.Done():
		return ctx.Err()
	}
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// The exchange applies the meeting's gates: refusals with their codes, the password passed on,
// and the lobby: a ticket, polls that wait, a token once admitted, a refusal once denied.
func TestExchangeThroughTheMeetingsGates(t *testing.T) {
	gate := &scriptedGate{decision: make(chan error, 1)}
	srv, logs := server(t, Config{Gate: gate})
	inv, _ := Invite{Room: "abc-defg-hij", Role: Participant, Expires: time.Now().Add(time.Hour)}.Sign(testKey, testSecret)
	join := func(pw string) (*http.Response, map[string]any) {
		return post(t, srv.URL+"/api/join", "", map[string]string{"invite": inv, "name": "Lê Thị Mai", "password": pw})
	}
	for _, code := range []string{RefuseLocked, RefuseRemoved, RefuseFull, PasswordRequired, PasswordWrong} {
		gate.admission = code
		res, body := join("x")
		if res.StatusCode != http.StatusForbidden || body["error"] != code || body["token"] != nil {
			t.Fatalf("%s: %d %v", code, res.StatusCode, body)
		}
	}
	if gate.gotPW != "x" {
		t.Fatalf("gate saw password %q", gate.gotPW)
	}
	gate.admission = Wait
	res, body := join("")
	if res.StatusCode != http.StatusAccepted || body["status"] != "waiting" || body["ticket"] != "T1" || body["token"] != nil {
		t.Fatalf("lobby: %d %v", res.StatusCode, body)
	}
	if status, body := getJSON(t, srv.URL+"/api/lobby/T1"); status != http.StatusOK || body["status"] != "waiting" {
		t.Fatalf("poll before a decision: %d %v", status, body)
	}
	if status, _ := getJSON(t, srv.URL+"/api/lobby/nope"); status != http.StatusNotFound {
		t.Fatalf("unknown ticket: %d", status)
	}
	gate.decision <- nil
	status, body := getJSON(t, srv.URL+"/api/lobby/T1")
	if status != http.StatusOK || body["token"] == nil || body["identity"] == nil || body["status"] != "admitted" {
		t.Fatalf("admitted: %d %v", status, body)
	}
	// The ticket is spent; a denied knock is told so.
	if status, _ := getJSON(t, srv.URL+"/api/lobby/T1"); status != http.StatusNotFound {
		t.Fatalf("spent ticket: %d", status)
	}
	join("")
	gate.decision <- ErrLobbyDenied
	if status, body := getJSON(t, srv.URL+"/api/lobby/T1"); status != http.StatusForbidden || body["error"] != "lobby_denied" {
		t.Fatalf("denied: %d %v", status, body)
	}
	join("")
	gate.decision <- ErrLobbyTimeout
	if status, body := getJSON(t, srv.URL+"/api/lobby/T1"); status != http.StatusGone || body["error"] != "lobby_timeout" {
		t.Fatalf("timeout: %d %v", status, body)
	}
	// Leaving the lobby withdraws the knock.
	join("")
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/api/lobby/T1", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("leave the lobby: %v %v", res, err)
	}
	if len(gate.withdrawn) != 1 {
		t.Fatal("the knock was not withdrawn")
	}
	if b := logs.String(); len(b) == 0 {
		t.Fatal("nothing logged")
	}
}

// One browser (its device key) under one name keeps its identity in a meeting, so a bar holds;
// another browser, or no key, gets another.
func TestDeviceKeepsIdentity(t *testing.T) {
	srv, _ := server(t, Config{})
	inv, _ := Invite{Room: "abc-defg-hij", Role: Participant, Expires: time.Now().Add(time.Hour)}.Sign(testKey, testSecret)
	id := func(device string) string {
		_, body := post(t, srv.URL+"/api/join", "", map[string]string{"invite": inv, "name": "Phạm Minh", "device": device})
		return body["identity"].(string)
	}
	a, b := id("0123456789abcdef-one"), id("0123456789abcdef-one")
	if a != b {
		t.Fatalf("same device, two identities: %s %s", a, b)
	}
	if c := id("0123456789abcdef-two"); c == a {
		t.Fatal("two devices share an identity")
	}
	if d, e := id(""), id(""); d == e || d == a {
		t.Fatalf("without a device key: %s %s", d, e)
	}
}
