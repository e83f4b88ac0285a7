package multinode

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// balancer is a TCP load balancer on loopback: each connection goes to the first backend that
// accepts it, as a balancer with health checks would send it.
func balancer(t *testing.T, backends ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				for _, b := range backends {
					u, err := net.DialTimeout("tcp", b, time.Second)
					if err != nil {
						continue
					}
					go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
					_, _ = io.Copy(c, u)
					_ = c.Close()
					return
				}
				_ = c.Close()
			}()
		}
	}()
	return "ws://" + ln.Addr().String()
}

// A session relayed through a node that is then killed (not the room's node) comes back through
// another node, and its media, which never went through the killed node, goes on.
func TestKillRelayNode(t *testing.T) {
	bin := testkit.BuildHop(t)
	trio := startRoomTrio(t, bin, "relaykill")
	rdb, nodes, host, owner := trio.rdb, trio.nodes, trio.host, trio.owner
	svc := lksdk.NewRoomServiceClient(nodes[0].httpURL, config.DevAPIKey, config.DevAPISecret)
	ctx := context.Background()
	a, b := (host+1)%3, (host+2)%3
	lb := balancer(t, strings.TrimPrefix(nodes[a].url, "ws://"), strings.TrimPrefix(nodes[b].url, "ws://"))
	p1 := join(t, lb, "relaykill", "p1") // through a, the balancer's first choice
	p2 := join(t, nodes[b].url, "relaykill", "p2")
	p1.waitMedia("p2", time.Now(), 25, 20*time.Second)
	p2.waitMedia("p1", time.Now(), 25, 20*time.Second)
	before := metric(t, nodes[b].adminURL, "hop_cluster_relayed_up_total")

	killed := time.Now()
	if err := nodes[a].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-nodes[a].exited
	// Media goes straight to the room's node: it does not stop.
	p1.waitMedia("p2", killed, 25, 10*time.Second)
	p2.waitMedia("p1", killed, 25, 10*time.Second)
	// p1's signalling comes back through b: its requests now reach the room through b's relay.
	deadline := time.Now().Add(20 * time.Second)
	for p1.room.ConnectionState() != lksdk.ConnectionStateConnected || metric(t, nodes[b].adminURL, "hop_cluster_relayed_up_total") <= before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("p1 did not come back through node b (state %s)", p1.room.ConnectionState())
		}
		time.Sleep(50 * time.Millisecond) // the SDK's state has no channel to wait on here
	}
	p1.room.LocalParticipant.SetMetadata("back")
	for {
		ps, err := svc.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "relaykill"})
		if err != nil {
			t.Fatal(err)
		}
		if len(ps.Participants) == 2 && metadataOf(ps.Participants, "p1") == "back" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("p1 is not back in the room with its metadata: %v", ps.Participants)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o, _, _ := rediscluster.RoomOwner(ctx, rdb, "relaykill"); o != owner {
		t.Fatalf("the room moved (%s → %s) though its node lives", owner, o)
	}
	p1.waitMedia("p2", time.Now(), 25, 10*time.Second)
	t.Logf("p1 back through node b %v after its relay was killed", time.Since(killed))
}

func metadataOf(ps []*livekit.ParticipantInfo, identity string) string {
	for _, p := range ps {
		if p.Identity == identity {
			return p.Metadata
		}
	}
	return ""
}
