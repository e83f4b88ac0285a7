package multinode

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/recorder"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// `hop drain` on the node hosting a meeting: new rooms go elsewhere at once; after the deadline
// the participants are asked to move, rejoin, and have media again on another node; the drained
// node leaves the cluster. The meeting's recording moves with it: the next segment is recorded
// on the new node, which finishes the recording over both.
func TestDrainMovesMeeting(t *testing.T) {
	r := startRedis(t)
	shared := t.TempDir()
	nodes := startCluster(t, r, 3, func(c *config.Config) { c.Recorder.Dir = shared })
	ctx := context.Background()
	if _, err := roomService(nodes[0]).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "moving",
		Egress: &livekit.RoomEgress{Room: &livekit.RoomCompositeEgressRequest{RoomName: "moving"}}}); err != nil {
		t.Fatal(err)
	}
	host := ownerIndex(t, r, nodes, "moving")
	a, b := (host+1)%3, (host+2)%3
	p1 := join(t, nodes[a].URL(), "moving", "p1")
	p2 := join(t, nodes[b].URL(), "moving", "p2")
	p1.waitMedia("p2", time.Now(), 25, 20*time.Second)
	p2.waitMedia("p1", time.Now(), 25, 20*time.Second)

	const deadline = 2 * time.Second
	rdb := r.client(t)
	asked := time.Now()
	if err := rediscluster.RequestDrain(ctx, rdb, nodes[host].ID(), deadline); err != nil {
		t.Fatal(err)
	}
	for !draining(t, rdb, nodes[host].ID()) {
		if time.Since(asked) > 5*time.Second {
			t.Fatal("the node did not start draining")
		}
		time.Sleep(50 * time.Millisecond) // the registry has no event a test can wait on
	}
	// A new room asked of the draining node is placed on another.
	if _, err := roomService(nodes[host]).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "fresh"}); err != nil {
		t.Fatal(err)
	}
	if i := ownerIndex(t, r, nodes, "fresh"); i == host {
		t.Fatal("a new room was placed on the draining node")
	}
	// Until the deadline the meeting stays where it is.
	if i := ownerIndex(t, r, nodes, "moving"); i != host {
		t.Fatalf("the meeting moved before the deadline (to node %d)", i)
	}
	// The room's lease passes to another node only once the room has closed on the drained one,
	// so media counted from then on flows through the new node.
	var movedAt time.Time
	for {
		owner, _, err := roomOwner(r, t, "moving")
		if err == nil && owner != "" && owner != nodes[host].ID() {
			movedAt = time.Now()
			break
		}
		if time.Since(asked) > deadline+15*time.Second {
			t.Fatal("the meeting was not placed on another node")
		}
		time.Sleep(20 * time.Millisecond) // the lease has no event a test can wait on
	}
	m1 := p1.waitMedia("p2", movedAt, 10, 20*time.Second)
	m2 := p2.waitMedia("p1", movedAt, 10, 20*time.Second)
	moved := ownerIndex(t, r, nodes, "moving")
	if len(nodes[moved].Rooms().Room("moving").Participants()) != 2 {
		t.Fatal("the participants are not both in the moved room")
	}
	if n := len(nodes[host].Rooms().Rooms()); n != 0 {
		t.Fatalf("the drained node still has %d rooms", n)
	}
	for draining(t, rdb, nodes[host].ID()) {
		if time.Since(asked) > deadline+10*time.Second {
			t.Fatal("the drained node did not leave the cluster")
		}
		time.Sleep(50 * time.Millisecond)
	}
	back := m1
	if m2.After(back) {
		back = m2
	}
	t.Logf("moved from node %d to node %d; media back both ways %v after the deadline", host, moved, back.Sub(asked.Add(deadline)))

	// The recording went on on the new node as its second segment.
	rec := waitEgress(t, egressClientOf(nodes[moved]), "", func(i *livekit.EgressInfo) bool {
		return i.Status == livekit.EgressStatus_EGRESS_ACTIVE && i.Details == "segment 2"
	})
	waitSegment(t, filepath.Join(shared, rec.EgressId, "segment-2", "manifest.json"), 2)
	if _, err := egressClientOf(nodes[moved]).StopEgress(ctx, &livekit.StopEgressRequest{EgressId: rec.EgressId}); err != nil {
		t.Fatal(err)
	}
	done := waitEgress(t, egressClientOf(nodes[moved]), rec.EgressId, func(i *livekit.EgressInfo) bool {
		return i.Status >= livekit.EgressStatus_EGRESS_COMPLETE
	})
	whole, err := recorder.ReadManifest(done.ManifestLocation)
	if done.Status != livekit.EgressStatus_EGRESS_COMPLETE || err != nil || len(whole.Tracks) != 4 {
		t.Fatalf("the moved recording ended %s (%s), manifest %v with %d tracks, want complete with 2 per segment",
			done.Status, done.Error, err, len(whole.Tracks))
	}
}

func draining(t *testing.T, rdb rediscluster.Cmdable, id string) bool {
	nodes, err := rediscluster.ListNodes(context.Background(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID == id {
			return n.Draining
		}
	}
	return false
}
