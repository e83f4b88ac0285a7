package multinode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/loadtest"
	"github.com/hop-meet/hop/internal/testkit"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// The cluster load run: `hop loadtest` with several rooms over three node processes, its clients
// taking the nodes' URLs in turn (as behind a load balancer), so each room's participants reach
// it through different nodes. Every subscriber gets every track, placement keeps the rooms
// spread, and the test reports each node's CPU and the relayed signalling it carried.
func TestClusterLoadRun(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is not installed (make deps): the load test encodes its media with it")
	}
	const rooms, nodeCount = 6, 3
	bin := testkit.BuildHop(t)
	r := startRedis(t)
	rdb := r.client(t)
	nodes := make([]*procNode, nodeCount)
	var urls []string
	for i := range nodes {
		nodes[i] = startProcNode(t, bin, r.Addr)
		urls = append(urls, nodes[i].url)
	}
	ids := waitNodes(t, rdb, nodeCount)

	relayNames := []string{"hop_cluster_relayed_up_total", "hop_cluster_relayed_down_total",
		"hop_cluster_relay_lag_microseconds_total", "hop_cluster_relay_lag_samples_total", "hop_cluster_relays_behind_total"}
	readRelay := func() [][]float64 {
		out := make([][]float64, len(nodes))
		for i, n := range nodes {
			for _, name := range relayNames {
				out[i] = append(out[i], metric(t, n.adminURL, name))
			}
		}
		return out
	}
	relayBefore := readRelay()
	cpuBefore := make([]float64, len(nodes))
	for i, n := range nodes {
		cpuBefore[i] = cpuSeconds(t, n.cmd.Process.Pid)
	}
	redisBefore := cpuSeconds(t, r.cmd.Process.Pid)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cache, _ := os.UserCacheDir()
	cmd := exec.CommandContext(ctx, bin, "loadtest", "--urls", strings.Join(urls, ","), "--rooms", strconv.Itoa(rooms),
		"--room", "cl", "--video-publishers", "1", "--subscribers", "2", "--video-resolution", "360p",
		"--duration", "15s", "--relay", "--single-pc", "--num-per-second", "0", "--json",
		"--media-dir", filepath.Join(cache, "hop-loadtest"))
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Placement is read while media flows: rooms close once their participants leave.
	flowing, scanned := make(chan struct{}), make(chan struct{})
	var progress strings.Builder
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			progress.WriteString(sc.Text() + "\n")
			if !once && strings.HasPrefix(sc.Text(), "media flowing") {
				once = true
				close(flowing)
			}
		}
	}()
	perNode := map[string]int{}
	select {
	case <-flowing:
		for i := range rooms {
			name := fmt.Sprintf("cl-%d", i+1)
			owner, _, err := rediscluster.RoomOwner(ctx, rdb, name)
			if err != nil || owner == "" {
				t.Fatalf("room %s has no lease in Redis (%v)", name, err)
			}
			perNode[owner]++
		}
		for i, n := range nodes {
			if held := metric(t, n.adminURL, "hop_cluster_leases_held"); int(held) != perNode[ids[n.url]] {
				t.Fatalf("node %d holds %v leases by its metrics, Redis says %d", i, held, perNode[ids[n.url]])
			}
		}
	case <-scanned:
		err := cmd.Wait()
		t.Fatalf("hop loadtest ended before media flowed (%v):\n%s", err, progress.String())
	}
	<-scanned // all of stderr read before Wait closes it
	if err := cmd.Wait(); err != nil {
		t.Fatalf("hop loadtest: %v\n%s", err, progress.String())
	}
	took := time.Since(started)
	cpu := make([]float64, len(nodes))
	for i, n := range nodes {
		cpu[i] = cpuSeconds(t, n.cmd.Process.Pid) - cpuBefore[i]
	}
	redisCPU := cpuSeconds(t, r.cmd.Process.Pid) - redisBefore
	relayAfter := readRelay()

	var rep loadtest.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	if rep.ConnectFailures != 0 {
		t.Fatalf("%d connect failures: %s", rep.ConnectFailures, rep.FirstConnectError)
	}
	if want := rooms * 2 * rep.ExpectedTracks; rep.SubscribedTracks != want || len(rep.Rooms) != rooms {
		t.Fatalf("subscribers got %d tracks, want %d (rooms %+v)", rep.SubscribedTracks, want, rep.Rooms)
	}
	for _, s := range rep.Subscribers {
		for _, tr := range s.Tracks {
			if tr.Packets == 0 {
				t.Fatalf("%s got no packet on %s's %s", s.Identity, tr.Publisher, tr.Kind)
			}
		}
	}
	// Placement by load: no node hosts more than its even share plus one.
	most := (rooms+nodeCount-1)/nodeCount + 1
	counts := make([]int, len(nodes))
	for i, n := range nodes {
		counts[i] = perNode[ids[n.url]]
		if counts[i] > most {
			t.Fatalf("rooms per node %v: more than %d on one", counts, most)
		}
	}

	// Signalling was relayed (two of each room's three clients came through other nodes), and
	// no relayed session fell behind under this load.
	var relayed float64
	for i := range nodes {
		relayed += relayAfter[i][0] - relayBefore[i][0]
		if behind := relayAfter[i][4] - relayBefore[i][4]; behind != 0 {
			t.Fatalf("node %d closed %v relayed sessions that fell behind", i, behind)
		}
	}
	if relayed == 0 {
		t.Fatal("no signal message was relayed")
	}

	t.Logf("%d rooms × (1 video publisher 360p simulcast + 2 subscribers) over %d nodes, %v in all (%v of media): "+
		"%d/%d tracks received, %.0f kbit/s, loss %.2f%%, rooms per node %v",
		rooms, nodeCount, took.Round(time.Second), rep.Duration.Round(time.Second), rep.SubscribedTracks,
		rooms*2*rep.ExpectedTracks, rep.TotalKbps, rep.TotalLossPct, counts)
	for i := range nodes {
		d := make([]float64, len(relayNames))
		for k := range d {
			d[k] = relayAfter[i][k] - relayBefore[i][k]
		}
		lag := 0.0
		if d[3] > 0 {
			lag = d[2] / d[3] / 1000
		}
		t.Logf("node %d: %d rooms, CPU %.2f s (%.1f%% of a core), relayed %v up / %v down, relay lag %.2f ms avg over %v messages, %v behind",
			i, counts[i], cpu[i], 100*cpu[i]/took.Seconds(), d[0], d[1], lag, d[3], d[4])
	}
	t.Logf("redis-server: CPU %.2f s (%.1f%% of a core)", redisCPU, 100*redisCPU/took.Seconds())
}

// cpuSeconds is the user and system CPU time a process has used (/proc/PID/stat, in clock ticks
// of 1/100 s, as on every Linux this runs on).
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces), from field 3: utime and stime are 14 and 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100
}
