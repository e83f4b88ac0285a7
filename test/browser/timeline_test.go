package browser_test

import (
	"context"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/test/browser"
)

// TestTimeline runs the harness's timeline mode on loopback: a publisher and, in a second
// Chromium released later with Begin, a subscriber; both stream samples while they run, and Stop
// ends them. The subscriber's samples show the publisher's video decoded and audio arriving, the
// publisher's show its simulcast layers.
func TestTimeline(t *testing.T) {
	n := testkit.StartNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := func(p browser.Participant) *browser.Handle {
		p.Token = n.Token(t, "timeline", p.Identity)
		p.TimelineMs = 60000
		h, err := browser.Start(ctx, browser.Spec{URL: n.URL(), Participants: []browser.Participant{p}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Stop(); <-h.Done() })
		return h
	}
	pub := start(browser.Participant{Identity: "pub", Dynacast: true})
	sub := start(browser.Participant{Identity: "sub", SubscribeOnly: true, WaitStart: true, SampleMs: 100})

	// The publisher sends its layers before the subscriber is released.
	if err := pub.WaitUntil(ctx, 30*time.Second, func() bool {
		tl := pub.Timeline("pub")
		return len(tl) > 0 && len(tl[len(tl)-1].Local.Video) == 3
	}); err != nil {
		t.Fatalf("publisher's timeline shows no 3 video layers: %v\n%s", err, pub.Stderr())
	}
	if len(sub.Timeline("sub")) != 0 {
		t.Fatal("the subscriber sampled before it was started")
	}
	released := time.Now()
	if err := sub.Begin("sub"); err != nil {
		t.Fatal(err)
	}
	if err := sub.WaitUntil(ctx, 30*time.Second, func() bool {
		tl := sub.Timeline("sub")
		if len(tl) < 2 {
			return false
		}
		s := tl[len(tl)-1].Remote("pub")
		return s != nil && s.Video != nil && s.Video.FramesDecoded > 10 && s.Audio != nil && s.Audio.PacketsReceived > 10
	}); err != nil {
		t.Fatalf("subscriber does not decode the publisher: %v\n%s", err, sub.Stderr())
	}
	if err := sub.Stop(); err != nil {
		t.Fatal(err)
	}
	res, err := sub.Wait()
	if err != nil {
		t.Fatalf("subscriber run: %v", err)
	}
	p := res.Participant("sub")
	if p == nil || !p.Connected || len(p.Errors) > 0 {
		t.Fatalf("subscriber report: %+v", p)
	}
	tl := p.Timeline
	if len(tl) < 2 || tl[0].At < released.UnixMilli() {
		t.Fatalf("timeline: %d samples, first at %d (released at %d)", len(tl), tl[0].At, released.UnixMilli())
	}
	// Samples follow the period on average; single gaps jitter with the page's stats calls.
	for i := 1; i < len(tl); i++ {
		if d := tl[i].At - tl[i-1].At; d < 20 || d > 1000 {
			t.Errorf("samples %d and %d are %d ms apart, want about 100", i-1, i, d)
		}
	}
	if mean := float64(tl[len(tl)-1].At-tl[0].At) / float64(len(tl)-1); mean < 90 || mean > 200 {
		t.Errorf("samples are %.0f ms apart on average, want about 100", mean)
	}
	kinds := map[string]bool{}
	for _, e := range p.Events {
		kinds[e.Kind] = true
	}
	if !kinds["connected"] || !kinds["trackSubscribed"] {
		t.Errorf("events: %+v", p.Events)
	}
	if err := pub.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Wait(); err != nil {
		t.Fatalf("publisher run: %v", err)
	}
}
