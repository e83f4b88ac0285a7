// Package leak_test checks that a node gives back what its participants took: after many
// participants joined, published and left in every way a client can leave, the node's goroutines
// are exactly those it had before, and its heap is back near where it was.
package leak_test

import (
	"fmt"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

func TestMain(m *testing.M) {
	// The SDK logs every pion event; tests report what matters themselves.
	if os.Getenv("HOP_TEST_SDK_LOG") == "" {
		lksdk.SetLogger(logger.GetDiscardLogger())
	}
	os.Exit(m.Run())
}

// The ways a churn cycle ends, one kind per cycle in turn.
const (
	// mediaLeave: a publisher and a subscriber with media flowing both leave (Disconnect sends Leave).
	mediaLeave = iota
	// mediaDrop: the publisher's websocket drops for good once media flows; the node keeps it for
	// the resume window, then removes it.
	mediaDrop
	// mediaAbandonedResume: as mediaDrop, but the client resumes (reconnect=1, same sid) and then
	// drops that connection too.
	mediaAbandonedResume
	// rawLeave: a signalling-only client joins and sends Leave.
	rawLeave
	// rawEarlyDrop: a signalling-only client drops its websocket right after the JoinResponse,
	// before any media connected.
	rawEarlyDrop
	kinds
)

var kindNames = [kinds]string{"media-leave", "media-drop", "media-abandoned-resume", "raw-leave", "raw-early-drop"}

const (
	// resumeWindow is short so that dropped participants are removed within the run, and long
	// enough for the abandoned resume to reach the node inside it on a loaded machine.
	resumeWindow = time.Second
	// departureTimeout closes emptied rooms quickly; workers reuse room names, so some joins land in
	// a room waiting to close and others make it anew.
	departureTimeout = 300 * time.Millisecond
	// churnWorkers run cycles in parallel; a cycle mostly waits (connections, the resume window),
	// so there are more workers than cores.
	churnWorkers = 8
	// churnCycles per worker, a multiple of the kinds: each kind runs as often in every worker.
	churnCycles = 25
	// heapSlack is how far the live heap may end above the baseline. With no participant left it
	// holds only what grows once and is reused (map buckets, allocator caches): runs that kept
	// nothing ended well within it, and the packet caches of a few leaked publishers exceed it.
	heapSlack = 4 << 20
)

// turnOrphans: a client given up on mid-connect (see driver.join) can close while its TURN
// Allocate is in flight, and pion's client drops an allocation granted to a cancelled request
// without freeing it; the node's TURN server keeps it, and its relay goroutine, for the
// allocation's lifetime, as TURN prescribes.
var turnOrphans = testkit.Spare{Entry: "github.com/pion/turn/v5/internal/allocation.(*Allocation).packetConnHandler", Max: 2}

// Every goroutine a node starts for its participants and rooms ends once they are gone, and the
// heap they used is given back, however the participants left.
func TestChurnLeavesNothing(t *testing.T) {
	if testkit.ChildRole() == "churn" {
		churnClients(t)
		return
	}
	n := testkit.StartNode(t, func(c *config.Config) {
		c.Room.ResumeWindow = resumeWindow
		c.Room.DepartureTimeout = departureTimeout
	})
	m := testkit.MakeMedia(t)
	// start runs the clients; they have all left when it returns, and the child waits to be told
	// to exit: the SDK closes connections after Disconnect returns, and a process that exits first
	// leaves its TURN allocations behind on the node.
	start := func(workers, cycles int) *testkit.Child {
		t.Helper()
		child := testkit.StartChild(t, "TestChurnLeavesNothing", "churn",
			"HOP_CHURN_URL="+n.URL(), "HOP_CHURN_ADDR="+n.Addr().String(),
			"HOP_CHURN_OPUS="+m.Opus, "HOP_CHURN_VP8="+m.VP8[180],
			fmt.Sprintf("HOP_CHURN_WORKERS=%d", workers), fmt.Sprintf("HOP_CHURN_CYCLES=%d", cycles))
		done := child.Await("done", 5*time.Minute)
		// Every cycle must have run: a churn that did less proves less.
		if got, _ := strconv.Atoi(strings.Fields(done)[1]); got != workers*cycles {
			t.Fatalf("child ran %s, want %d cycles", done, workers*cycles)
		}
		t.Logf("child: %s", done)
		waitEmpty(t, n)
		return child
	}
	stop := func(child *testkit.Child) {
		t.Helper()
		child.Tell("exit")
		child.Wait(time.Minute)
	}
	// A warm-up cycle of each kind starts what the node and pion start once and keep (TURN
	// allocations its exit may leave stay in the baseline too).
	stop(start(1, kinds))
	base := testkit.CountGoroutines()
	heap := testkit.HeapAfterGC()
	baseProfile := writeHeapProfile(t)
	t.Logf("baseline: %d goroutines, heap %.1f MiB", base.Total(), mib(heap))

	began := time.Now()
	child := start(churnWorkers, churnCycles)
	t.Logf("churn of %d cycles took %v", churnWorkers*churnCycles, time.Since(began).Round(time.Second))
	t.Logf("after the churn: %d goroutines, heap %.1f MiB", testkit.CountGoroutines().Total(), mib(testkit.HeapAfterGC()))
	testkit.WaitGoroutinesBack(t, base, 20*time.Second, child.Spare(), turnOrphans)
	if h := testkit.HeapAfterGC(); h > heap+heapSlack {
		t.Fatalf("heap %.1f MiB after the churn, baseline %.1f MiB (at most +%.0f MiB); what grew: go tool pprof -sample_index=inuse_space -top -diff_base %s %s",
			mib(h), mib(heap), mib(heapSlack), baseProfile, writeHeapProfile(t))
	}
	stop(child)
}

// writeHeapProfile saves the live heap for `go tool pprof -sample_index=inuse_space` and says where.
func writeHeapProfile(t *testing.T) string {
	f, err := os.CreateTemp("", "hop-churn-heap-*.pprof")
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return err.Error()
	}
	return f.Name()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// waitEmpty waits until the node has no room, PeerConnection, track, downtrack, writer lane or
// peer address routed to a lane left.
func waitEmpty(t *testing.T, n *testkit.Node) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rooms := len(n.Rooms().Rooms())
		s := n.Engine().Stats().Snapshot()
		lanes := n.Engine().Writers().Lanes()
		if rooms == 0 && s.PeerConnections == 0 && s.Tracks == 0 && s.DownTracks == 0 && lanes == 0 && s.LaneRoutes == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the clients left: %d rooms, %d PeerConnections, %d tracks, %d downtracks, %d writer lanes, %d lane routes remain",
				rooms, s.PeerConnections, s.Tracks, s.DownTracks, lanes, s.LaneRoutes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// churnClients is the child: it runs the cycles against the parent's node and says how many ran.
func churnClients(t *testing.T) {
	env := func(k string) string {
		v := os.Getenv(k)
		if v == "" {
			t.Fatalf("child: %s not set", k)
		}
		return v
	}
	d := &driver{url: env("HOP_CHURN_URL"), addr: env("HOP_CHURN_ADDR"), opus: env("HOP_CHURN_OPUS"), vp8: env("HOP_CHURN_VP8")}
	workers, _ := strconv.Atoi(env("HOP_CHURN_WORKERS"))
	cycles, _ := strconv.Atoi(env("HOP_CHURN_CYCLES"))
	// HOP_CHURN_ONLY (kind names, comma-separated) narrows the mix, to find which way of leaving
	// leaks.
	mix := []int{mediaLeave, mediaDrop, mediaAbandonedResume, rawLeave, rawEarlyDrop}
	if only := os.Getenv("HOP_CHURN_ONLY"); only != "" {
		mix = nil
		for _, name := range strings.Split(only, ",") {
			k := slices.Index(kindNames[:], name)
			if k < 0 {
				t.Fatalf("HOP_CHURN_ONLY: no kind %q (kinds: %v)", name, kindNames)
			}
			mix = append(mix, k)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := [kinds]int{}
	var took [kinds]time.Duration
	var failures []string
	for w := range workers {
		wg.Go(func() {
			for i := range cycles {
				kind := mix[(w+i)%len(mix)]
				start := time.Now()
				err := d.cycle(t, kind, w, i)
				mu.Lock()
				if err != nil {
					failures = append(failures, fmt.Sprintf("worker %d cycle %d (%s): %v", w, i, kindNames[kind], err))
				} else {
					ran[kind]++
					took[kind] += time.Since(start)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := 0
	var parts []string
	for k, c := range ran {
		total += c
		avg := time.Duration(0)
		if c > 0 {
			avg = (took[k] / time.Duration(c)).Round(time.Millisecond)
		}
		parts = append(parts, fmt.Sprintf("%s=%d(%v)", kindNames[k], c, avg))
	}
	for _, f := range failures {
		t.Error(f)
	}
	testkit.Say("done %d %s connect-retries=%d", total, strings.Join(parts, " "), d.retries.Load())
	testkit.Hear(t, "exit")
}

type driver struct {
	url, addr string
	opus, vp8 string
	// retries counts connects tried again.
	retries atomic.Int64
}

// join connects a media client, and tries once more if that times out (a loaded machine can make
// a connect miss the SDK's deadline): the attempt given up on is one more way of leaving.
func (d *driver) join(wsURL, token string, singlePC bool) (*mediaClient, error) {
	c, err := joinMedia(wsURL, token, singlePC)
	if err != nil {
		d.retries.Add(1)
		c, err = joinMedia(wsURL, token, singlePC)
	}
	return c, err
}

func (d *driver) cycle(t *testing.T, kind, w, i int) error {
	switch kind {
	case rawLeave, rawEarlyDrop:
		return d.rawCycle(t, kind, w, i)
	default:
		return d.mediaCycle(t, kind, w, i)
	}
}

// rawCycle joins a signalling-only client and ends it by a Leave or by dropping the websocket.
func (d *driver) rawCycle(t *testing.T, kind, w, i int) error {
	// Two cycles in a row share a room: the second often joins while it waits to close.
	room := fmt.Sprintf("raw-%d-%d", w, i/2)
	c, err := dialRaw(d.url, testkit.DevToken(t, room, fmt.Sprintf("raw%d", i)), "")
	if err != nil {
		return err
	}
	defer c.conn.Close()
	if _, err := c.await(10*time.Second, func(m *livekit.SignalResponse) bool { return m.GetJoin() != nil }); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	if kind == rawEarlyDrop {
		return c.conn.Close()
	}
	if err := c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{
		Reason: livekit.DisconnectReason_CLIENT_INITIATED, Action: livekit.LeaveRequest_DISCONNECT}}}); err != nil {
		return err
	}
	return c.awaitClose(10 * time.Second)
}

// mediaCycle has a publisher send Opus and VP8 to a subscriber, then ends the publisher as kind
// says, and the subscriber with a Leave.
func (d *driver) mediaCycle(t *testing.T, kind, w, i int) error {
	room := fmt.Sprintf("media-%d-%d", w, i)
	single := i%2 == 0
	sub, err := d.join(d.url, testkit.DevToken(t, room, "sub"), !single)
	if err != nil {
		return fmt.Errorf("subscriber: %w", err)
	}
	defer sub.room.Disconnect()
	pubURL := d.url
	var proxy *testkit.Proxy
	if kind != mediaLeave {
		// Its own signalling goes through a proxy, to be cut.
		proxy = testkit.NewProxy(t, d.addr)
		defer proxy.Close()
		pubURL = "ws://" + proxy.Addr()
	}
	pubToken := testkit.DevToken(t, room, "pub")
	pub, err := d.join(pubURL, pubToken, single)
	if err != nil {
		return fmt.Errorf("publisher: %w", err)
	}
	defer pub.room.Disconnect()
	if err := pub.publish(d.opus, d.vp8); err != nil {
		return err
	}
	if err := sub.waitFlowing(20 * time.Second); err != nil {
		return err
	}
	switch kind {
	case mediaLeave:
		pub.room.Disconnect()
	case mediaDrop:
		proxy.Close()
	case mediaAbandonedResume:
		sid := pub.room.LocalParticipant.SID()
		proxy.Close()
		r, err := dialRaw(d.url, pubToken, "&reconnect=1&sid="+url.QueryEscape(sid))
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		_, err = r.await(5*time.Second, func(m *livekit.SignalResponse) bool { return m.GetReconnect() != nil })
		_ = r.conn.Close()
		if err != nil {
			return fmt.Errorf("resume: no ReconnectResponse: %w", err)
		}
	}
	// The subscriber sees the publisher go: at once after a Leave, after the resume window otherwise.
	return sub.waitGone("pub", 15*time.Second)
}
