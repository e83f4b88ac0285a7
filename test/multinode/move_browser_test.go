package multinode

import (
	"context"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/test/browser"
)

// The same rejoin on one node without Redis: the room asks both livekit-client participants to
// rejoin (LeaveRequest RECONNECT, room.Move); both decode each other's camera again. The first
// back gets the second's tracks during livekit-client's restart window, where its room events are
// lost (see page.ts): this is the test of the page's reconcile.
func TestMoveBrowsersSingleNode(t *testing.T) {
	n := testkit.StartNode(t, nil)
	ctx := context.Background()
	start := func(identity string) *browser.Handle {
		h, err := browser.Start(ctx, browser.Spec{URL: n.URL(), ConnectTimeoutMs: 20000, LogLevel: browserLog(), Verbose: browserLog() != "", Participants: []browser.Participant{{
			Identity: identity, Token: token(t, "solo", identity), TimelineMs: 60000, SampleMs: 100}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Stop(); _, _ = h.Wait() })
		return h
	}
	h1, h2 := start("b1"), start("b2")
	for _, w := range []struct {
		h      *browser.Handle
		me, of string
	}{{h1, "b1", "b2"}, {h2, "b2", "b1"}} {
		if err := w.h.WaitUntil(ctx, 40*time.Second, func() bool { _, ok := decodingSince(w.h, w.me, w.of, time.Time{}); return ok }); err != nil {
			t.Fatal(err)
		}
	}
	moved := time.Now()
	n.Rooms().Room("solo").Move()
	for _, w := range []struct {
		h      *browser.Handle
		me, of string
	}{{h1, "b1", "b2"}, {h2, "b2", "b1"}} {
		if err := w.h.WaitUntil(ctx, 20*time.Second, func() bool { _, ok := decodingSince(w.h, w.me, w.of, moved); return ok }); err != nil {
			for _, e := range w.h.Events(w.me) {
				if e.Kind != "connectionQuality" {
					t.Logf("%s event %+d ms %s %s", w.me, e.At-moved.UnixMilli(), e.Kind, e.Detail)
				}
			}
			t.Fatalf("%s: %v\n%s", w.me, err, w.h.Stderr())
		}
		// How often livekit-client's lost room events mattered: tracks the page learnt of otherwise.
		var found []string
		for _, e := range w.h.Events(w.me) {
			if e.Kind == "reconciled" && e.At >= moved.UnixMilli() {
				found = append(found, e.Detail)
			}
		}
		t.Logf("%s: after the move, tracks without the room's TrackSubscribed: %q", w.me, found)
	}
}
