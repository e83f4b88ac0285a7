package redis

import (
	"context"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/routing"
)

// startRedis runs a redis-server without persistence on a free loopback port for this test.
func startRedis(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed (make deps)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := NewClient(Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer")
		}
		time.Sleep(20 * time.Millisecond) // redis has no readiness event to wait on
	}
	return addr
}

// fakeSession is a room node's session as the relay sees it: the test pushes responses into
// it, and it records the requests and how it ended.
type fakeSession struct {
	mu      sync.Mutex
	resp    chan *livekit.SignalResponse
	closed  bool
	reqs    chan *livekit.SignalRequest
	gate    chan struct{} // when set, Send waits for it (a room that stopped taking requests)
	ended   chan string   // "close" or "abort: <reason>", once
	endOnce sync.Once
}

func newFakeSession() *fakeSession {
	return &fakeSession{resp: make(chan *livekit.SignalResponse, 4096), reqs: make(chan *livekit.SignalRequest, 4096),
		ended: make(chan string, 1)}
}

func (f *fakeSession) Send(r *livekit.SignalRequest) error {
	if f.gate != nil {
		<-f.gate
	}
	select {
	case f.reqs <- r:
	default:
	}
	return nil
}

func (f *fakeSession) Responses() <-chan *livekit.SignalResponse { return f.resp }

// push queues a response unless the session ended; it never blocks (the channel is larger than
// any test's flood).
func (f *fakeSession) push(m *livekit.SignalResponse) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.resp <- m
	}
}

func (f *fakeSession) end(how string) {
	f.endOnce.Do(func() {
		f.mu.Lock()
		f.closed = true
		close(f.resp)
		f.mu.Unlock()
		f.ended <- how
	})
}

func (f *fakeSession) Close()              { f.end("close") }
func (f *fakeSession) Abort(reason string) { f.end("abort: " + reason) }

// fakeHost hands out the sessions the test prepared, in order.
type fakeHost struct{ next chan *fakeSession }

func (h *fakeHost) StartSession(context.Context, *routing.JoinParams) (routing.Session, error) {
	return <-h.next, nil
}
func (h *fakeHost) CheckJoin(context.Context, *routing.JoinParams) error { return nil }

// relayPair is two cluster nodes on one Redis: a relays sessions to rooms hosted on b.
type relayPair struct {
	a, b *Cluster
	host *fakeHost
}

func startPair(t *testing.T) *relayPair {
	t.Helper()
	addr := startRedis(t)
	p := &relayPair{host: &fakeHost{next: make(chan *fakeSession, 8)}}
	for i, c := range []**Cluster{&p.a, &p.b} {
		rdb := NewClient(Options{Addr: addr})
		t.Cleanup(func() { _ = rdb.Close() })
		*c = New(rdb, Config{NodeID: "node-" + strconv.Itoa(i), URL: "ws://node-" + strconv.Itoa(i)})
		(*c).Attach(p.host, nil, func(string) bool { return true }, nil)
		(*c).Start()
		t.Cleanup((*c).Close)
	}
	return p
}

// open relays a session through a to a room on b, backed by sess on b.
func (p *relayPair) open(t *testing.T, room string, sess *fakeSession) routing.Session {
	t.Helper()
	p.host.next <- sess
	jp := &routing.JoinParams{Room: room, Grants: &auth.Grants{ClaimGrants: &lkauth.ClaimGrants{Identity: "x"}}}
	s, err := p.a.openRelay(context.Background(), p.b.NodeID(), jp)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitGoroutines waits for the process to be back to at most base goroutines (internal/testkit,
// which names the survivors, imports this package through the node).
func waitGoroutines(t *testing.T, base int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the stalled session:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond) // goroutines end with no event to wait on
	}
}

func update(i int) *livekit.SignalResponse {
	return &livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{
		Participants: []*livekit.ParticipantInfo{{Identity: "flood", Metadata: strconv.Itoa(i)}}}}}
}

// waitEnd returns how sess ended, failing after timeout.
func waitEnd(t *testing.T, sess *fakeSession, timeout time.Duration) string {
	t.Helper()
	select {
	case how := <-sess.ended:
		return how
	case <-time.After(timeout):
		t.Fatalf("the room node's session did not end within %v", timeout)
		return ""
	}
}

// expectFlowing checks that a healthy session in the same room still carries both ways.
func expectFlowing(t *testing.T, relayed routing.Session, hosted *fakeSession, tag string) {
	t.Helper()
	hosted.push(&livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{
		Room: &livekit.Room{Metadata: tag}}}})
	select {
	case m := <-relayed.Responses():
		if m.GetRoomUpdate().GetRoom().GetMetadata() != tag {
			t.Fatalf("the healthy session got %v, want the room update %q", m, tag)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the healthy session got no response within 5 s")
	}
	if err := relayed.Send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 7}}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-hosted.reqs:
		if r.GetPing() != 7 {
			t.Fatalf("the room got %v, want ping 7", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the healthy session's request did not reach the room within 5 s")
	}
}

// A relayed session whose client stopped reading (its websocket writer no longer takes from
// Responses) while its room floods it with updates: the relay closes that session and tells the
// room's node why, the room's node keeps writing without waiting for it, the other session in
// the room keeps working both ways, and the goroutines of the closed session end.
func TestRelayBehindClosesOnlyThatSession(t *testing.T) {
	p := startPair(t)
	okHosted := newFakeSession()
	okRelayed := p.open(t, "flooded", okHosted)
	expectFlowing(t, okRelayed, okHosted, "before")
	base := runtime.NumGoroutine()

	stuckHosted := newFakeSession()
	stuck := p.open(t, "flooded", stuckHosted)
	// Far more than the relay buffers for a client (its response channel), well under the
	// stream bound: only a reader that stopped taking messages falls behind.
	const flood = 2000
	for i := range flood {
		stuckHosted.push(update(i))
	}
	how := waitEnd(t, stuckHosted, 10*time.Second)
	if how != "abort: "+errBehind.Error() {
		t.Fatalf("the room node's session ended with %q, want an abort saying %q", how, errBehind)
	}
	if n := p.a.Stats().RelaysBehind.Load(); n != 1 {
		t.Fatalf("the relay counted %d sessions behind, want 1", n)
	}
	// The room's node was never held up: every response it produced was taken off its session.
	deadline := time.Now().Add(5 * time.Second)
	for len(stuckHosted.resp) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d responses still queued on the room's node", len(stuckHosted.resp))
		}
		time.Sleep(10 * time.Millisecond) // draining has no event of its own
	}
	// The stalled client's channel holds what it had buffered, then closes: its websocket closes.
	got := 0
	for range stuck.Responses() {
		got++
	}
	if got == 0 || got >= flood {
		t.Fatalf("the stalled session delivered %d of %d responses before closing", got, flood)
	}
	if err := stuck.Send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 1}}); err == nil {
		t.Fatal("the closed session still accepts requests")
	}
	expectFlowing(t, okRelayed, okHosted, "after")
	waitGoroutines(t, base, 5*time.Second)
	if how := func() string {
		select {
		case h := <-okHosted.ended:
			return h
		default:
			return ""
		}
	}(); how != "" {
		t.Fatalf("the healthy session ended too (%s)", how)
	}
}

// The other direction: a room node that stops taking a relayed session's requests while the
// client keeps sending loses entries to the up stream's bound, sees the gap when it reads again
// and aborts that session with the reason instead of skipping requests.
func TestRelayUpStreamGapAbortsSession(t *testing.T) {
	p := startPair(t)
	hosted := newFakeSession()
	hosted.gate = make(chan struct{})
	relayed := p.open(t, "gap", hosted)
	// The first request blocks the room's reader in Send; the rest pile up in the stream, past
	// its bound (trimmed approximately, a stream node of 100 entries at a time).
	for i := range streamMaxLen + 300 {
		if err := relayed.Send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: int64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	close(hosted.gate)
	how := waitEnd(t, hosted, 10*time.Second)
	if how != "abort: "+errBehind.Error() {
		t.Fatalf("the room node's session ended with %q, want an abort saying %q", how, errBehind)
	}
	if n := p.b.Stats().RelaysBehind.Load(); n != 1 {
		t.Fatalf("the room's node counted %d sessions behind, want 1", n)
	}
	// The requests the room did take are in order and end before the gap.
	close(hosted.reqs)
	var last int64 = -1
	for r := range hosted.reqs {
		if r.GetPing() != last+1 {
			t.Fatalf("the room took ping %d after %d: a request was skipped", r.GetPing(), last)
		}
		last = r.GetPing()
	}
	if last < 0 || last >= streamMaxLen+299 {
		t.Fatalf("the room took pings 0..%d of %d", last, streamMaxLen+300)
	}
}
