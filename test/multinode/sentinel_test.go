package multinode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	goredis "github.com/redis/go-redis/v9"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// startProc runs a redis-server (or Sentinel) the test stops by its PID.
func startProc(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

func waitPing(t *testing.T, addr string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer", addr)
		}
		time.Sleep(20 * time.Millisecond) // no readiness event
	}
}

// A Redis master behind three Sentinels fails over to its replica during a meeting: media goes
// on with the same participants, and the cluster works on the new master (a newcomer joins
// through another node; the room's lease is there).
func TestSentinelFailover(t *testing.T) {
	master, replica := freePort(t, "tcp"), freePort(t, "tcp")
	for _, p := range []int{master, replica} {
		args := []string{"--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"}
		if p == replica {
			args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(master))
		}
		startProc(t, args...)
		waitPing(t, "127.0.0.1:"+strconv.Itoa(p))
	}
	var sentinels []string
	for i := range 3 {
		p := freePort(t, "tcp")
		path := filepath.Join(t.TempDir(), fmt.Sprintf("sentinel%d.conf", i))
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor hop 127.0.0.1 %d 2\nsentinel down-after-milliseconds hop 1000\nsentinel failover-timeout hop 5000\n", p, master)
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		startProc(t, path, "--sentinel", "--loglevel", "warning")
		addr := "127.0.0.1:" + strconv.Itoa(p)
		waitPing(t, addr)
		sentinels = append(sentinels, addr)
	}
	nodes := make([]*testkit.Node, 3)
	for i := range nodes {
		nodes[i] = testkit.StartNode(t, func(c *config.Config) {
			c.Redis.SentinelAddresses = sentinels
			c.Redis.MasterName = "hop"
		})
	}
	ctx := context.Background()
	if _, err := roomService(nodes[0]).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "sentinel"}); err != nil {
		t.Fatal(err)
	}
	p1 := join(t, nodes[1].URL(), "sentinel", "p1")
	p2 := join(t, nodes[2].URL(), "sentinel", "p2")
	p1.waitMedia("p2", time.Now(), 25, 20*time.Second)
	p2.waitMedia("p1", time.Now(), 25, 20*time.Second)

	var host *testkit.Node
	for _, n := range nodes {
		if n.Rooms().Room("sentinel") != nil {
			host = n
		}
	}
	sids := map[string]string{}
	for _, p := range host.Rooms().Room("sentinel").Participants() {
		sids[p.Info().Identity] = p.Info().Sid
	}
	s := goredis.NewSentinelClient(&goredis.Options{Addr: sentinels[0]})
	defer s.Close()
	if err := s.Failover(ctx, "hop").Err(); err != nil {
		t.Fatal(err)
	}
	failover := time.Now()
	for {
		addr, err := s.GetMasterAddrByName(ctx, "hop").Result()
		if err == nil && addr[1] == strconv.Itoa(replica) {
			break
		}
		if time.Since(failover) > 20*time.Second {
			t.Fatalf("no failover: master %v, %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond) // Sentinel's state: polled
	}
	t.Logf("Sentinel switched the master after %v", time.Since(failover))
	p1.waitMedia("p2", time.Now(), 25, 10*time.Second)
	p2.waitMedia("p1", time.Now(), 25, 10*time.Second)
	for id, sid := range sids {
		if p := host.Rooms().Room("sentinel").Participant(id); p == nil || p.Info().Sid != sid {
			t.Fatalf("%s left or rejoined during the failover", id)
		}
	}
	p3 := join(t, nodes[0].URL(), "sentinel", "p3")
	p3.waitMedia("p1", time.Now(), 25, 20*time.Second)
	p3.waitMedia("p2", time.Now(), 25, 20*time.Second)
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(replica)})
	defer rdb.Close()
	if v, err := rdb.Get(ctx, "hop:room:sentinel").Result(); err != nil || v == "" {
		t.Fatalf("the room's lease on the new master: %q, %v", v, err)
	}
}
