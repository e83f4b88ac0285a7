package multinode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// procNode is `hop serve` in a child process, so that it can be killed with SIGKILL.
type procNode struct {
	url, httpURL string
	// adminURL serves the node's /metrics.
	adminURL string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// startProcNode starts a node of the cluster at redisAddr; extra is more of its YAML configuration.
func startProcNode(t *testing.T, bin, redisAddr string, extra ...string) *procNode {
	t.Helper()
	port, admin := freePort(t, "tcp"), freePort(t, "tcp")
	cfg := fmt.Sprintf(`port: %d
admin_address: 127.0.0.1:%d
log_level: %s
rtc:
  udp_port: %d
  tcp_port: 0
  bind_address: 127.0.0.1
turn:
  enabled: true
  bind_address: 127.0.0.1
  udp_port: %d
  relay_ip: 127.0.0.1
room:
  departure_timeout: 500ms
  empty_timeout: 10s
redis:
  address: %s
`, port, admin, logLevel(), freePort(t, "udp"), freePort(t, "udp"), redisAddr)
	for _, e := range extra {
		cfg += e + "\n"
	}
	path := filepath.Join(t.TempDir(), "hop.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--dev", "--config", path)
	if os.Getenv("HOP_TEST_LOG") != "" {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &procNode{url: "ws://127.0.0.1:" + strconv.Itoa(port), httpURL: "http://127.0.0.1:" + strconv.Itoa(port),
		adminURL: "http://127.0.0.1:" + strconv.Itoa(admin), cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-n.exited
	})
	return n
}

// waitNodes waits until the registry lists want nodes, and maps their URLs to ids.
func waitNodes(t *testing.T, rdb rediscluster.Cmdable, want int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		nodes, err := rediscluster.ListNodes(context.Background(), rdb)
		if err == nil && len(nodes) == want {
			ids := map[string]string{}
			for _, n := range nodes {
				ids[n.URL] = n.ID
			}
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry lists %d nodes, want %d (%v)", len(nodes), want, err)
		}
		time.Sleep(100 * time.Millisecond) // nodes starting in other processes: no event here
	}
}

// Kill -9 the node hosting a room whose two participants reach it through the two other nodes:
// the relays see the node gone and ask their clients to rejoin, the lease runs out, the room is
// placed on a surviving node, and media flows again both ways. Run several times, timed.
func TestKillRoomNode(t *testing.T) {
	bin := testkit.BuildHop(t)
	runs := 3
	if s := os.Getenv("HOP_KILL_RUNS"); s != "" {
		runs, _ = strconv.Atoi(s)
	}
	var times []time.Duration
	for run := range runs {
		t.Run(strconv.Itoa(run), func(t *testing.T) {
			times = append(times, killOnce(t, bin))
		})
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("kill -9 → media again both ways, %d runs: %v", len(times), times)
}

func killOnce(t *testing.T, bin string) time.Duration {
	trio := startRoomTrio(t, bin, "survivor")
	rdb, nodes, ids, host, owner := trio.rdb, trio.nodes, trio.ids, trio.host, trio.owner
	ctx := context.Background()
	if host < 0 {
		t.Fatalf("room on %q, not one of the nodes %v", owner, ids)
	}
	a, b := (host+1)%3, (host+2)%3
	p1 := join(t, nodes[a].url, "survivor", "p1")
	p2 := join(t, nodes[b].url, "survivor", "p2")
	p1.waitMedia("p2", time.Now(), 25, 20*time.Second)
	p2.waitMedia("p1", time.Now(), 25, 20*time.Second)

	// Never two hosts: sample the lease while the room moves.
	stopWatch := make(chan struct{})
	owners := make(chan []string, 1)
	go func() {
		var seen []string
		for {
			o, lease, err := rediscluster.RoomOwner(ctx, rdb, "survivor")
			if err == nil && o != "" && (len(seen) == 0 || seen[len(seen)-1] != lease) {
				seen = append(seen, lease)
			}
			select {
			case <-stopWatch:
				owners <- seen
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	killed := time.Now()
	if err := nodes[host].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-nodes[host].exited
	m1 := p1.waitMedia("p2", killed, 10, 30*time.Second)
	m2 := p2.waitMedia("p1", killed, 10, 30*time.Second)
	back := m1
	if m2.After(back) {
		back = m2
	}
	close(stopWatch)
	seen := <-owners
	newOwner, _, err := rediscluster.RoomOwner(ctx, rdb, "survivor")
	if err != nil || newOwner == "" || newOwner == owner {
		t.Fatalf("room owner after the kill: %q (was %q), %v", newOwner, owner, err)
	}
	if len(seen) != 2 || leaseNodeOf(seen[0]) != owner || leaseNodeOf(seen[1]) != newOwner {
		t.Fatalf("leases seen while the room moved: %v (from %s to %s)", seen, owner, newOwner)
	}
	for _, n := range nodes {
		if ids[n.url] == newOwner {
			if v := metric(t, n.adminURL, "hop_cluster_takeovers_total"); v != 1 {
				t.Fatalf("the new owner counted %v takeovers, want 1", v)
			}
			if metric(t, n.adminURL, "hop_cluster_relay_lag_samples_total") == 0 {
				t.Fatal("the new owner measured no relay lag")
			}
		}
	}
	took := back.Sub(killed)
	t.Logf("room moved %s → %s; media back both ways %v after kill -9 (p1 %v, p2 %v)", owner, newOwner, took, m1.Sub(killed), m2.Sub(killed))
	return took
}

func leaseNodeOf(lease string) string {
	for i := range len(lease) {
		if lease[i] == ' ' {
			return lease[:i]
		}
	}
	return lease
}

func logLevel() string {
	if l := os.Getenv("HOP_TEST_LOG"); l != "" {
		return l
	}
	return "warn"
}

// roomTrio is three `hop serve` processes on one Redis with a room created on one of them.
type roomTrio struct {
	redis *redisServer
	rdb   rediscluster.Cmdable
	nodes []*procNode
	ids   map[string]string // node URL → id
	host  int               // index of the room's node
	owner string            // the room's node id
}

func startRoomTrio(t *testing.T, bin, room string, extra ...string) *roomTrio {
	t.Helper()
	r := startRedis(t)
	tr := &roomTrio{redis: r, rdb: r.client(t)}
	tr.nodes = []*procNode{startProcNode(t, bin, r.Addr, extra...), startProcNode(t, bin, r.Addr, extra...), startProcNode(t, bin, r.Addr, extra...)}
	tr.ids = waitNodes(t, tr.rdb, 3)
	ctx := context.Background()
	svc := lksdk.NewRoomServiceClient(tr.nodes[0].httpURL, config.DevAPIKey, config.DevAPISecret)
	// Longer than the nodes' empty_timeout (10 s): Chromium participants can take more than that
	// to start and join, and a room closed meanwhile is created again wherever they join.
	if _, err := svc.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: room, EmptyTimeout: 60}); err != nil {
		t.Fatal(err)
	}
	owner, _, err := rediscluster.RoomOwner(ctx, tr.rdb, room)
	if err != nil {
		t.Fatal(err)
	}
	tr.owner, tr.host = owner, -1
	for i, n := range tr.nodes {
		if tr.ids[n.url] == owner {
			tr.host = i
		}
	}
	return tr
}
