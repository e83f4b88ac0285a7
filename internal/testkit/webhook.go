package testkit

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lkwebhook "github.com/livekit/protocol/webhook"

	"github.com/hop-meet/hop/internal/config"
)

// Webhooks is an operator's webhook endpoint on loopback: it checks each request as LiveKit's own
// receiver does (signed with the development key's secret, the body's hash) and keeps the events
// in arrival order.
type Webhooks struct {
	URL    string
	mu     sync.Mutex
	events []*livekit.WebhookEvent
	bad    []string
	more   chan struct{}
}

// StartWebhooks serves the endpoint until the test ends.
func StartWebhooks(t testing.TB) *Webhooks {
	h := &Webhooks{more: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

func (h *Webhooks) serve(w http.ResponseWriter, r *http.Request) {
	e, err := lkwebhook.ReceiveWebhookEvent(r, auth.NewSimpleKeyProvider(config.DevAPIKey, config.DevAPISecret))
	h.mu.Lock()
	if err != nil {
		h.bad = append(h.bad, err.Error())
	} else {
		h.events = append(h.events, e)
	}
	h.mu.Unlock()
	select {
	case h.more <- struct{}{}:
	default:
	}
}

// EventName is an event as tests compare it: what, and whose.
func EventName(e *livekit.WebhookEvent) string {
	s := e.Event
	if e.Participant != nil {
		s += " " + e.Participant.Identity
	}
	if e.Track != nil {
		s += " " + e.Track.Name
	}
	if e.EgressInfo != nil {
		s += " " + e.EgressInfo.Status.String()
	}
	return s
}

// Events returns the events so far, and the requests LiveKit's receiver refused.
func (h *Webhooks) Events() ([]*livekit.WebhookEvent, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*livekit.WebhookEvent(nil), h.events...), append([]string(nil), h.bad...)
}

// WaitFor waits until an event named want has arrived, and returns the names of all so far.
func (h *Webhooks) WaitFor(t testing.TB, want string) []string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		events, _ := h.Events()
		names := make([]string, len(events))
		for i, e := range events {
			names[i] = EventName(e)
		}
		for _, n := range names {
			if n == want {
				return names
			}
		}
		select {
		case <-h.more:
		case <-deadline:
			t.Fatalf("no %q among the webhook events %q", want, names)
		}
	}
}
