package multinode

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/testkit"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
	"github.com/hop-meet/hop/test/browser"
)

// decodingSince reports when the remote's camera, subscribed after since, was first seen
// advancing in two samples (frames of a subscription from before since do not count).
func decodingSince(h *browser.Handle, me, remote string, since time.Time) (time.Time, bool) {
	var subscribed time.Time
	for _, e := range h.Events(me) {
		if e.Kind == "trackSubscribed" && e.Detail == remote+" camera" && time.UnixMilli(e.At).After(since) {
			subscribed = time.UnixMilli(e.At)
			break
		}
	}
	if subscribed.IsZero() {
		return time.Time{}, false
	}
	var prev *browser.VideoInbound
	for _, s := range h.Timeline(me) {
		if s.Time().Before(subscribed) {
			continue
		}
		r := s.Remote(remote)
		if r == nil || r.Video == nil {
			prev = nil
			continue
		}
		if prev != nil && r.Video.FramesDecoded > prev.FramesDecoded {
			return s.Time(), true
		}
		prev = r.Video
	}
	return time.Time{}, false
}

// Kill -9 the node hosting a room with two livekit-client participants in Chromium, each
// connected to another node: both decode each other's camera again, timed from the kill.
func TestKillRoomNodeBrowsers(t *testing.T) {
	if _, err := browser.Dir(); err != nil {
		t.Fatalf("browser harness: %v", err)
	}
	bin := testkit.BuildHop(t)
	var times []time.Duration
	for run := range 3 {
		// A subtest each: its nodes and browsers stop before the next run starts.
		t.Run(strconv.Itoa(run), func(t *testing.T) {
			times = append(times, killOnceBrowsers(t, bin))
		})
	}
	t.Logf("kill -9 → both browsers decode video again: %v", times)
}

func killOnceBrowsers(t *testing.T, bin string) time.Duration {
	trio := startRoomTrio(t, bin, "browsers")
	rdb, nodes, host, owner := trio.rdb, trio.nodes, trio.host, trio.owner
	ctx := context.Background()
	start := func(url, identity string) *browser.Handle {
		h, err := browser.Start(ctx, browser.Spec{URL: url, ConnectTimeoutMs: 20000, LogLevel: browserLog(), Verbose: browserLog() != "", Participants: []browser.Participant{{
			Identity: identity, Token: token(t, "browsers", identity), TimelineMs: 60000, SampleMs: 100}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Stop(); _, _ = h.Wait() })
		return h
	}
	h1 := start(nodes[(host+1)%3].url, "b1")
	h2 := start(nodes[(host+2)%3].url, "b2")
	for _, w := range []struct {
		h      *browser.Handle
		me, of string
	}{{h1, "b1", "b2"}, {h2, "b2", "b1"}} {
		if err := w.h.WaitUntil(ctx, 40*time.Second, func() bool {
			_, ok := decodingSince(w.h, w.me, w.of, time.Time{})
			return ok
		}); err != nil {
			t.Fatalf("%s does not decode %s: %v\n%s", w.me, w.of, err, w.h.Stderr())
		}
	}
	// The node to kill is the room's: it must not have changed while the browsers joined.
	if o, _, err := rediscluster.RoomOwner(ctx, rdb, "browsers"); err != nil || o != owner {
		t.Fatalf("room owner before the kill: %q (%v), created on %q", o, err, owner)
	}
	killed := time.Now()
	if err := nodes[host].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-nodes[host].exited
	var back time.Time
	for _, w := range []struct {
		h      *browser.Handle
		me, of string
	}{{h1, "b1", "b2"}, {h2, "b2", "b1"}} {
		if err := w.h.WaitUntil(ctx, 30*time.Second, func() bool {
			_, ok := decodingSince(w.h, w.me, w.of, killed)
			return ok
		}); err != nil {
			for _, x := range []struct {
				h  *browser.Handle
				id string
			}{{h1, "b1"}, {h2, "b2"}} {
				for _, e := range x.h.Events(x.id) {
					if e.Kind != "connectionQuality" {
						t.Logf("%s event %+d ms %s %s", x.id, e.At-killed.UnixMilli(), e.Kind, e.Detail)
					}
				}
				logEnd(t, x.h, x.id, killed)
			}
			t.Fatalf("%s does not decode %s again after the kill: %v\n%s", w.me, w.of, err, w.h.Stderr())
		}
		at, _ := decodingSince(w.h, w.me, w.of, killed)
		if at.After(back) {
			back = at
		}
	}
	newOwner, _, _ := rediscluster.RoomOwner(ctx, rdb, "browsers")
	if newOwner == "" || newOwner == owner {
		t.Fatalf("room owner after the kill: %q", newOwner)
	}
	took := back.Sub(killed)
	t.Logf("browsers: room moved %s → %s; both decode video again %v after kill -9", owner, newOwner, took)
	return took
}

// browserLog is livekit-client's log level in the pages, HOP_TEST_LOG's (debug also traces the
// browser's track events); set, the page console goes to the harness's stderr, which a failure prints.
func browserLog() string {
	return os.Getenv("HOP_TEST_LOG")
}

// logEnd logs, for a failure, when the participant's last sample came and what its page reported
// as errors (it stops the run).
func logEnd(t *testing.T, h *browser.Handle, id string, since time.Time) {
	if tl := h.Timeline(id); len(tl) > 0 {
		t.Logf("%s last sample %+d ms", id, tl[len(tl)-1].Time().Sub(since).Milliseconds())
	}
	_ = h.Stop()
	res, _ := h.Wait()
	if res == nil {
		return
	}
	for _, p := range res.Participants {
		t.Logf("%s report: state %s, errors %q, console %q", p.Identity, p.State, p.Errors, p.Console)
	}
}
