package multinode

import (
	"context"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// startCluster starts n in-process nodes sharing the test's redis-server, each with its own
// ports and embedded TURN server.
func startCluster(t *testing.T, r *redisServer, n int, more ...func(*config.Config)) []*testkit.Node {
	nodes := make([]*testkit.Node, n)
	for i := range nodes {
		nodes[i] = testkit.StartNode(t, func(c *config.Config) {
			c.Redis.Address = r.Addr
			for _, f := range more {
				f(c)
			}
		})
	}
	return nodes
}

// meeting is a room created on the cluster with two participants publishing, each reaching it
// through one of the two nodes that do not host it (relayed), once both receive the other.
type meeting struct {
	host, a, b int // the room's node, and the nodes p1 and p2 joined through
	p1, p2     *peer
}

func startMeeting(t *testing.T, r *redisServer, nodes []*testkit.Node, room string) meeting {
	t.Helper()
	if _, err := roomService(nodes[0]).CreateRoom(context.Background(), &livekit.CreateRoomRequest{Name: room}); err != nil {
		t.Fatal(err)
	}
	m := meeting{host: ownerIndex(t, r, nodes, room)}
	m.a, m.b = (m.host+1)%len(nodes), (m.host+2)%len(nodes)
	m.p1 = join(t, nodes[m.a].URL(), room, "p1")
	m.p2 = join(t, nodes[m.b].URL(), room, "p2")
	m.p1.waitMedia("p2", time.Now(), 25, 20*time.Second)
	m.p2.waitMedia("p1", time.Now(), 25, 20*time.Second)
	return m
}

func roomService(n *testkit.Node) *lksdk.RoomServiceClient {
	return lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
}

// ownerIndex is the index of the node holding room's lease, checked against every node's own
// lease table: exactly one node hosts it.
func ownerIndex(t *testing.T, r *redisServer, nodes []*testkit.Node, room string) int {
	t.Helper()
	owner, lease, err := rediscluster.RoomOwner(context.Background(), r.client(t), room)
	if err != nil || owner == "" {
		t.Fatalf("room %s has no lease in Redis (%v)", room, err)
	}
	idx := -1
	for i, n := range nodes {
		held, ok := n.Cluster().Leases().Held()[room]
		if ok && n.ID() != owner {
			t.Fatalf("node %d (%s) holds %s's lease %q, Redis says %q", i, n.ID(), room, held, lease)
		}
		if n.ID() == owner {
			if held != lease {
				t.Fatalf("the owner's lease %q differs from Redis's %q", held, lease)
			}
			idx = i
		}
		if r := n.Rooms().Room(room); r != nil && n.ID() != owner {
			t.Fatalf("node %d has room %s open but does not hold its lease", i, room)
		}
	}
	if idx < 0 {
		t.Fatalf("room %s's lease names %s, not a node of this test", room, owner)
	}
	return idx
}

// Two participants whose websockets reach two nodes that do not host their room meet on the
// room's node: signalling relayed, media straight to it. RoomService calls made on a node that
// does not host the room act on it. Every node posts webhooks to the same endpoint, and each
// event arrives once.
func TestRelayedParticipantsShareMedia(t *testing.T) {
	r := startRedis(t)
	hooks := testkit.StartWebhooks(t)
	nodes := startCluster(t, r, 3, func(c *config.Config) { c.Webhook.URLs = []string{hooks.URL} })
	ctx := context.Background()
	if _, err := roomService(nodes[2]).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "relayed"}); err != nil {
		t.Fatal(err)
	}
	host := ownerIndex(t, r, nodes, "relayed")
	a, b := (host+1)%3, (host+2)%3
	p1 := join(t, nodes[a].URL(), "relayed", "p1")
	p2 := join(t, nodes[b].URL(), "relayed", "p2")
	start := time.Now()
	p1.waitMedia("p2", start, 50, 20*time.Second)
	p2.waitMedia("p1", start, 50, 20*time.Second)
	if got := len(nodes[host].Rooms().Room("relayed").Participants()); got != 2 {
		t.Fatalf("the room's node has %d participants, want 2", got)
	}
	for _, i := range []int{a, b} {
		s := nodes[i].Cluster().Stats()
		if s.RelayedUp.Load() == 0 || nodes[i].Rooms().Room("relayed") != nil {
			t.Fatalf("node %d relayed %d requests, has the room: %v", i, s.RelayedUp.Load(), nodes[i].Rooms().Room("relayed") != nil)
		}
	}
	if nodes[host].Cluster().Stats().RelayedDown.Load() == 0 {
		t.Fatal("the room's node relayed no responses")
	}
	ownerIndex(t, r, nodes, "relayed")

	// RoomService through node a, acting on the room on the host.
	svc := roomService(nodes[a])
	ps, err := svc.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "relayed"})
	if err != nil || len(ps.Participants) != 2 {
		t.Fatalf("ListParticipants through a node without the room: %v, %v", ps, err)
	}
	if _, err := svc.UpdateParticipant(ctx, &livekit.UpdateParticipantRequest{Room: "relayed", Identity: "p2", Metadata: "set-from-a"}); err != nil {
		t.Fatal(err)
	}
	if md := nodes[host].Rooms().Room("relayed").Participant("p2").Info().Metadata; md != "set-from-a" {
		t.Fatalf("p2's metadata on the room's node: %q", md)
	}
	if _, err := svc.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "relayed", Identity: "p1"}); err != nil {
		t.Fatal(err)
	}
	if nodes[host].Rooms().Room("relayed").Participant("p1") != nil {
		t.Fatal("p1 still in the room after RemoveParticipant through node a")
	}
	rooms, err := roomService(nodes[b]).ListRooms(ctx, &livekit.ListRoomsRequest{})
	if err != nil || len(rooms.Rooms) != 1 || rooms.Rooms[0].Name != "relayed" {
		t.Fatalf("ListRooms through node b: %v, %v", rooms, err)
	}

	got := map[string]int{}
	for _, n := range hooks.WaitFor(t, "track_unpublished p1 mic") { // the last of p1's
		got[n]++
	}
	for _, e := range []string{"room_started", "participant_joined p1", "participant_joined p2", "track_published p1 mic", "track_published p2 mic", "participant_left p1", "track_unpublished p1 mic"} {
		if got[e] != 1 {
			t.Errorf("webhook %q arrived %d times, want once (all: %v)", e, got[e], got)
		}
	}
	if _, bad := hooks.Events(); len(bad) > 0 {
		t.Errorf("webhooks LiveKit's receiver refused: %v", bad)
	}
}

// Rooms created through one node spread over the three by load.
func TestRoomsSpreadByLoad(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, r, 3)
	svc := roomService(nodes[0])
	per := map[int]int{}
	for i := range 6 {
		name := "spread-" + string(rune('a'+i))
		if _, err := svc.CreateRoom(context.Background(), &livekit.CreateRoomRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		per[ownerIndex(t, r, nodes, name)]++
	}
	for i := range nodes {
		if per[i] != 2 {
			t.Fatalf("rooms per node %v, want 2 each", per)
		}
	}
	list, err := roomService(nodes[1]).ListRooms(context.Background(), &livekit.ListRoomsRequest{})
	if err != nil || len(list.Rooms) != 6 {
		t.Fatalf("ListRooms through node 1: %d rooms, %v", len(list.Rooms), err)
	}
}

func roomOwner(r *redisServer, t *testing.T, room string) (string, string, error) {
	return rediscluster.RoomOwner(context.Background(), r.client(t), room)
}
