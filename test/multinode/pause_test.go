package multinode

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/testkit"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// metric reads one unlabelled-by-room gauge or counter from a node's /metrics (its admin listener).
func metric(t *testing.T, adminURL, name string) float64 {
	t.Helper()
	res, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("%s: no %s", adminURL, name)
	return 0
}

// A paused room node (SIGSTOP, as a stalled VM or a long GC pause would) loses its room to a
// survivor once its lease runs out, and when it runs again it ends the room at once instead of
// renewing: the lease in Redis stays the survivor's, and the room is never hosted twice.
func TestPausedRoomNodeGivesUpItsRoom(t *testing.T) {
	bin := testkit.BuildHop(t)
	trio := startRoomTrio(t, bin, "paused")
	rdb, nodes, host, owner := trio.rdb, trio.nodes, trio.host, trio.owner
	ctx := context.Background()
	a, b := (host+1)%3, (host+2)%3
	p1 := join(t, nodes[a].url, "paused", "p1")
	p2 := join(t, nodes[b].url, "paused", "p2")
	p1.waitMedia("p2", time.Now(), 25, 20*time.Second)
	p2.waitMedia("p1", time.Now(), 25, 20*time.Second)
	if metric(t, nodes[host].adminURL, "hop_cluster_leases_held") != 1 {
		t.Fatal("the room's node does not report its lease")
	}

	pid := nodes[host].cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	t.Cleanup(func() {
		if stopped {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	paused := time.Now()
	p1.waitMedia("p2", paused, 10, 30*time.Second)
	p2.waitMedia("p1", paused, 10, 30*time.Second)
	newOwner, newLease, err := rediscluster.RoomOwner(ctx, rdb, "paused")
	if err != nil || newOwner == owner || newOwner == "" {
		t.Fatalf("owner while the old node is paused: %q (%v)", newOwner, err)
	}
	t.Logf("media back %v after SIGSTOP, on %s", time.Since(paused), newOwner)

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	resumed := time.Now()
	// The resumed node's lease table is empty and its room closed; no event reaches the test
	// from another process, so poll its metrics.
	for metric(t, nodes[host].adminURL, "hop_cluster_leases_held") != 0 || metric(t, nodes[host].adminURL, "hop_rooms") != 0 {
		if time.Since(resumed) > 5*time.Second {
			t.Fatal("the resumed node still hosts the room")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if metric(t, nodes[host].adminURL, "hop_cluster_leases_lost_total") < 1 {
		t.Fatal("the resumed node did not count the lost lease")
	}
	if _, lease, _ := rediscluster.RoomOwner(ctx, rdb, "paused"); lease != newLease {
		t.Fatalf("the lease changed after the old node resumed: %q, was %q", lease, newLease)
	}
	if metric(t, nodes[host].adminURL, "hop_cluster_lease_renewals_total") == 0 {
		t.Fatal("no renewals counted before the pause")
	}
	p1.waitMedia("p2", time.Now(), 25, 10*time.Second)
	p2.waitMedia("p1", time.Now(), 25, 10*time.Second)
}
