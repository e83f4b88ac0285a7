package network_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/test/browser"
)

const (
	pubID = "pub"
	// sampleMs is the timeline period: every measurement below has this resolution.
	sampleMs = 200
	// timelineMs bounds every browser's timeline; the tests stop them earlier.
	timelineMs = 120000
)

// startNamespaceNode starts a node that serves the namespaces made before it: HTTP on all
// addresses (the namespaces reach it at their 10.213.N.1), ICE candidates only on the veth
// addresses, media only with the namespaces, no TURN.
func startNamespaceNode(t *testing.T, more ...func(*config.Config)) *testkit.Node {
	t.Helper()
	return testkit.StartNode(t, func(c *config.Config) {
		c.BindAddress = "0.0.0.0"
		// Only the test's namespaces reach beyond loopback here.
		c.DevUnsafeBind = true
		c.RTC.BindAddress = "0.0.0.0"
		c.RTC.IncludeLoopback = false
		c.RTC.IPs.Includes = []string{"10.213.0.0/16"}
		c.RTC.AllowedPeers = []string{"10.213.0.0/16"}
		c.TURN.Enabled = false
		for _, f := range more {
			f(c)
		}
	})
}

// nodeURL is the node's websocket URL as seen from inside ns.
func nodeURL(t *testing.T, n *testkit.Node, ns *testkit.NetNS) string {
	t.Helper()
	_, port, err := net.SplitHostPort(n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return "ws://" + net.JoinHostPort(ns.HostIP(), port)
}

// browserRun is one run.mjs (one Chromium) in a namespace.
type browserRun struct {
	t   *testing.T
	id  string
	h   *browser.Handle
	res *browser.Result
	err error
	fin bool
}

// startBrowser starts one participant in its own Chromium inside ns. It is stopped when the test
// ends, before the node and the namespace go.
func startBrowser(ctx context.Context, t *testing.T, n *testkit.Node, ns *testkit.NetNS, room string, p browser.Participant) *browserRun {
	t.Helper()
	p.Token = n.Token(t, room, p.Identity)
	if p.TimelineMs == 0 {
		p.TimelineMs = timelineMs
	}
	if p.SampleMs == 0 {
		p.SampleMs = sampleMs
	}
	h, err := browser.Start(ctx, browser.Spec{
		URL:              nodeURL(t, n, ns),
		Participants:     []browser.Participant{p},
		ExpectWidth:      1280,
		ExpectHeight:     720,
		ConnectTimeoutMs: 20000,
	}, func(c *exec.Cmd) { ns.Wrap(c) })
	if err != nil {
		t.Fatalf("start %s: %v", p.Identity, err)
	}
	r := &browserRun{t: t, id: p.Identity, h: h}
	t.Cleanup(func() { r.finish() })
	return r
}

// finish stops the run (if still going) and collects its report once.
func (r *browserRun) finish() (*browser.Result, error) {
	if r.fin {
		return r.res, r.err
	}
	r.fin = true
	_ = r.h.Stop()
	r.res, r.err = r.h.Wait()
	if r.err != nil {
		r.t.Logf("%s: %v", r.id, r.err)
	} else if p := r.res.Participant(r.id); p != nil {
		for _, e := range p.Errors {
			r.t.Logf("%s reported: %s", r.id, e)
		}
	}
	return r.res, r.err
}

// timeline is what the participant has sampled so far.
func (r *browserRun) timeline() []browser.Sample { return r.h.Timeline(r.id) }

// waitUntil waits for cond on the streamed samples; on a run that ended it fails with its stderr.
func (r *browserRun) waitUntil(ctx context.Context, timeout time.Duration, cond func([]browser.Sample) bool) error {
	err := r.h.WaitUntil(ctx, timeout, func() bool { return cond(r.timeline()) })
	if errors.Is(err, browser.ErrRunEnded) {
		return fmt.Errorf("%s's browser ended: %s", r.id, tail(r.h.Stderr(), 3000))
	}
	return err
}

// waitCovered waits until the participant has a sample taken at or after at (the timeline covers
// that instant): the way to hold a network condition for a while and observe it.
func (r *browserRun) waitCovered(ctx context.Context, at time.Time, slack time.Duration) error {
	return r.waitUntil(ctx, time.Until(at)+slack, func(tl []browser.Sample) bool {
		return len(tl) > 0 && tl[len(tl)-1].At >= at.UnixMilli()
	})
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// ---- reading timelines ----

func remoteVideo(s browser.Sample, from string) *browser.VideoInbound {
	if r := s.Remote(from); r != nil {
		return r.Video
	}
	return nil
}

func remoteAudio(s browser.Sample, from string) *browser.AudioInbound {
	if r := s.Remote(from); r != nil {
		return r.Audio
	}
	return nil
}

// decodedSize is the size of the last frame decoded from a remote video in s (0x0 if none).
func decodedSize(s browser.Sample, from string) (int, int) {
	if v := remoteVideo(s, from); v != nil && v.FramesDecoded > 0 {
		return v.FrameWidth, v.FrameHeight
	}
	return 0, 0
}

// sustained reports whether the samples of the last d all satisfy ok (and span d).
func sustained(tl []browser.Sample, d time.Duration, ok func(browser.Sample) bool) bool {
	if len(tl) == 0 {
		return false
	}
	end := tl[len(tl)-1].At
	for i := len(tl) - 1; i >= 0; i-- {
		if !ok(tl[i]) {
			return false
		}
		if end-tl[i].At >= d.Milliseconds() {
			return true
		}
	}
	return false
}

// firstAfter returns the first sample taken at or after from that satisfies ok.
func firstAfter(tl []browser.Sample, from time.Time, ok func(browser.Sample) bool) (browser.Sample, bool) {
	for _, s := range tl {
		if s.At >= from.UnixMilli() && ok(s) {
			return s, true
		}
	}
	return browser.Sample{}, false
}

// between returns the samples taken in [from, to].
func between(tl []browser.Sample, from, to time.Time) []browser.Sample {
	var out []browser.Sample
	for _, s := range tl {
		if s.At >= from.UnixMilli() && s.At <= to.UnixMilli() {
			out = append(out, s)
		}
	}
	return out
}

// stall is the longest run of consecutive samples over which a counter did not advance: the
// time from the first to the last sample holding the same value. With counters that advance
// steadily it is 0; it resolves stalls to the sampling period.
type stall struct {
	Dur  time.Duration
	From int64 // Unix ms of the first sample of the longest run
}

// longestStall measures stall on value over tl, from the first sample where value is known.
func longestStall(tl []browser.Sample, value func(browser.Sample) (int64, bool)) stall {
	var best stall
	var runStart int64
	var last int64
	have := false
	for _, s := range tl {
		v, ok := value(s)
		if !ok {
			continue
		}
		if !have || v != last {
			have, last, runStart = true, v, s.At
			continue
		}
		if d := time.Duration(s.At-runStart) * time.Millisecond; d > best.Dur {
			best = stall{Dur: d, From: runStart}
		}
	}
	return best
}

func framesDecoded(from string) func(browser.Sample) (int64, bool) {
	return func(s browser.Sample) (int64, bool) {
		v := remoteVideo(s, from)
		if v == nil || v.FramesDecoded == 0 {
			return 0, false
		}
		return int64(v.FramesDecoded), true
	}
}

func audioPackets(from string) func(browser.Sample) (int64, bool) {
	return func(s browser.Sample) (int64, bool) {
		a := remoteAudio(s, from)
		if a == nil || a.PacketsReceived == 0 {
			return 0, false
		}
		return int64(a.PacketsReceived), true
	}
}

// rate is the bit rate of a byte counter between two samples, in kbit/s.
func rate(a, b browser.Sample, bytes func(browser.Sample) int64) float64 {
	dt := float64(b.At - a.At)
	if dt <= 0 || bytes(b) < bytes(a) { // a counter that went away (the participant left)
		return 0
	}
	return float64(bytes(b)-bytes(a)) * 8 / dt // bytes*8/ms = kbit/s
}

// rateOver is the bit rate of a byte counter over the window [end-window, end] of tl, in kbit/s.
func rateOver(tl []browser.Sample, end time.Time, window time.Duration, bytes func(browser.Sample) int64) float64 {
	var a, b *browser.Sample
	for i := range tl {
		s := &tl[i]
		if s.At <= end.UnixMilli() {
			b = s
		}
	}
	if b == nil {
		return 0
	}
	for i := range tl {
		s := &tl[i]
		if s.At >= b.At-window.Milliseconds() {
			a = s
			break
		}
	}
	if a == nil || a.At == b.At {
		return 0
	}
	return rate(*a, *b, bytes)
}

func layerBytes(rid string) func(browser.Sample) int64 {
	return func(s browser.Sample) int64 {
		if l := s.Local.Layer(rid); l != nil {
			return l.BytesSent
		}
		return 0
	}
}

func videoBytesSent(s browser.Sample) int64 { return s.Local.VideoBytesSent() }

func videoBytesReceived(from string) func(browser.Sample) int64 {
	return func(s browser.Sample) int64 {
		if v := remoteVideo(s, from); v != nil {
			return v.BytesReceived
		}
		return 0
	}
}

// nearest returns the sample of tl nearest to at.
func nearest(tl []browser.Sample, at int64) *browser.Sample {
	var best *browser.Sample
	for i := range tl {
		if best == nil || abs(tl[i].At-at) < abs(best.At-at) {
			best = &tl[i]
		}
	}
	return best
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// mark is a named instant of a test (a change it made), printed in the timeline.
type mark struct {
	at   time.Time
	name string
}

// logTimeline prints a one-second table of subscriber subs (decoded size, frame rate, received
// video rate, audio packets and concealment) and the publisher's per-layer send rates, relative
// to t0, with the test's marks.
func logTimeline(t *testing.T, t0 time.Time, pub []browser.Sample, subs map[string][]browser.Sample, order []string, links map[string]*linkSampler, marks []mark) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "timeline (t0 = browsers started; every 1 s):\n")
	end := t0
	for _, tl := range append([][]browser.Sample{pub}, mapValues(subs)...) {
		if len(tl) > 0 && tl[len(tl)-1].Time().After(end) {
			end = tl[len(tl)-1].Time()
		}
	}
	mi := 0
	for at := t0.Add(time.Second); !at.After(end.Add(500 * time.Millisecond)); at = at.Add(time.Second) {
		for mi < len(marks) && !marks[mi].at.After(at) {
			fmt.Fprintf(&b, "  --- %+.1fs %s\n", marks[mi].at.Sub(t0).Seconds(), marks[mi].name)
			mi++
		}
		fmt.Fprintf(&b, "  %+5.0fs", at.Sub(t0).Seconds())
		for _, id := range order {
			tl := subs[id]
			cur := nearest(tl, at.UnixMilli())
			prev := nearest(tl, at.Add(-time.Second).UnixMilli())
			if cur == nil || prev == nil || abs(cur.At-at.UnixMilli()) > 500 {
				fmt.Fprintf(&b, " | %s -", id)
				continue
			}
			w, h := decodedSize(*cur, pubID)
			var dec, aud, rtx, pli, kf int
			var conc float64
			if v, pv := remoteVideo(*cur, pubID), remoteVideo(*prev, pubID); v != nil && pv != nil {
				dec = v.FramesDecoded - pv.FramesDecoded
				rtx = v.RetransmittedPacketsReceived - pv.RetransmittedPacketsReceived
				pli, kf = v.PliCount, v.KeyFramesDecoded
			}
			if a, pa := remoteAudio(*cur, pubID), remoteAudio(*prev, pubID); a != nil && pa != nil {
				aud = a.PacketsReceived - pa.PacketsReceived
				if n := a.TotalSamplesReceived - pa.TotalSamplesReceived; n > 0 {
					conc = 100 * float64(a.ConcealedSamples-pa.ConcealedSamples) / float64(n)
				}
			}
			fmt.Fprintf(&b, " | %s %4dx%-3d %2dfps %5.0fkbps rtx+%-3d pli %d kf %d aud+%-3d conc %4.1f%%", id, w, h, dec,
				rate(*prev, *cur, videoBytesReceived(pubID)), rtx, pli, kf, aud, conc)
			if l := links[id]; l != nil {
				if kbps, pps, drops, ok := l.rates(at.Add(-time.Second), at); ok {
					fmt.Fprintf(&b, " link %5.0fkbps %4.0fpps", kbps, pps)
					if drops > 0 {
						fmt.Fprintf(&b, " drop %4.0fpps", drops)
					}
				}
			}
		}
		if cur, prev := nearest(pub, at.UnixMilli()), nearest(pub, at.Add(-time.Second).UnixMilli()); cur != nil && prev != nil && cur.Local != nil {
			fmt.Fprintf(&b, " | pub")
			for _, l := range cur.Local.Video {
				state := ""
				if !l.Active {
					state = "(off)"
				}
				fmt.Fprintf(&b, " %s %4.0f%s", l.RID, rate(*prev, *cur, layerBytes(l.RID)), state)
			}
			fmt.Fprintf(&b, " kbps")
			if len(cur.Local.Video) > 0 && cur.Local.Video[0].QualityLimitationReason != "none" {
				fmt.Fprintf(&b, " lim=%s", cur.Local.Video[0].QualityLimitationReason)
			}
			if cur.Transport != nil {
				fmt.Fprintf(&b, " bwe %4.0f", cur.Transport.AvailableOutgoingBitrate/1000)
			}
		}
		b.WriteByte('\n')
	}
	for ; mi < len(marks); mi++ {
		fmt.Fprintf(&b, "  --- %+.1fs %s\n", marks[mi].at.Sub(t0).Seconds(), marks[mi].name)
	}
	t.Log(b.String())
}

func mapValues(m map[string][]browser.Sample) [][]browser.Sample {
	var out [][]browser.Sample
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// logEvents prints a participant's livekit-client events relative to t0.
func logEvents(t *testing.T, t0 time.Time, r *browserRun) {
	t.Helper()
	var b strings.Builder
	for _, e := range r.h.Events(r.id) {
		fmt.Fprintf(&b, " %+.1fs %s %s;", time.UnixMilli(e.At).Sub(t0).Seconds(), e.Kind, e.Detail)
	}
	t.Logf("%s events:%s", r.id, b.String())
}

// linkSampler records a namespace's link counters (what the node sends into it, and what a
// downlink limit drops) every 250 ms until the test ends.
type linkSampler struct {
	mu      sync.Mutex
	samples []testkit.LinkCounters
	stop    chan struct{}
	done    chan struct{}
}

func sampleLink(t *testing.T, ns *testkit.NetNS) *linkSampler {
	l := &linkSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if c, err := ns.Counters(); err == nil {
				l.mu.Lock()
				l.samples = append(l.samples, c)
				l.mu.Unlock()
			}
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(l.close)
	return l
}

func (l *linkSampler) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// rates is what went into the namespace between from and to: kbit/s, packets/s, and packets/s
// dropped by the downlink limit.
func (l *linkSampler) rates(from, to time.Time) (kbps, pps, dropPps float64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var a, b *testkit.LinkCounters
	for i := range l.samples {
		s := &l.samples[i]
		if a == nil && !s.At.Before(from) {
			a = s
		}
		if !s.At.After(to) {
			b = s
		}
	}
	if a == nil || b == nil || !b.At.After(a.At) {
		return 0, 0, 0, false
	}
	dt := b.At.Sub(a.At).Seconds()
	var dropped int64
	for i := range l.samples {
		s := &l.samples[i]
		if s.At.After(a.At) && !s.At.After(b.At) {
			if d := s.Dropped - l.samples[i-1].Dropped; d > 0 { // the counter restarts with each limit
				dropped += d
			} else if d < 0 {
				dropped += s.Dropped
			}
		}
	}
	return float64(b.TxBytes-a.TxBytes) * 8 / 1000 / dt, float64(b.TxPackets-a.TxPackets) / dt, float64(dropped) / dt, true
}

// logAudioPath prints how audio travels: what the publisher sends (audio/red when RED is on) and
// what the node offers the subscriber and what it receives.
func logAudioPath(t *testing.T, pub, sub *browserRun) {
	t.Helper()
	var sent, answered, offered, fb, got string
	if tl := pub.timeline(); len(tl) > 0 && tl[len(tl)-1].Local != nil {
		for _, a := range tl[len(tl)-1].Local.Audio {
			sent += a.Codec + " "
		}
	}
	if pub.res != nil {
		if p := pub.res.Participant(pub.id); p != nil {
			for _, pc := range p.PeerConnections {
				for _, c := range pc.RemoteCodecOrder {
					// One PeerConnection (/rtc/v1) has an audio section per track; list each order once.
					if rest, ok := strings.CutPrefix(c, "audio "); ok && !strings.Contains(answered, rest+" ") {
						answered += rest + " "
					}
				}
			}
		}
	}
	if sub.res != nil {
		if p := sub.res.Participant(sub.id); p != nil {
			for _, pc := range p.PeerConnections {
				for _, c := range pc.RemoteCodecs {
					if strings.HasPrefix(c, "audio ") {
						offered += strings.TrimPrefix(c, "audio ") + " "
					}
				}
				for _, c := range pc.RemoteFeedback {
					if strings.HasPrefix(c, "audio ") {
						fb += strings.TrimPrefix(c, "audio ") + ", "
					}
				}
			}
		}
	}
	if tl := sub.timeline(); len(tl) > 0 {
		if a := remoteAudio(tl[len(tl)-1], pubID); a != nil {
			got = a.Codec
		}
	}
	t.Logf("audio path: node's SDP to the publisher lists %s(m-line order); publisher sends %s; node offers the subscriber %s(feedback: %s); subscriber receives %s",
		answered, sent, offered, fb, got)
}
