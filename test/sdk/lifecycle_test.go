package sdk_test

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// Data packets reach everyone else, or only the destinations named; the sender is stamped by the server.
func TestDataPackets(t *testing.T) {
	n := testkit.StartNode(t, nil)
	a := connect(t, n, "data", "alice", connectOpts{autoSubscribe: true}, 1)
	b := connect(t, n, "data", "bob", connectOpts{autoSubscribe: true, singlePC: true}, 1)
	c := connect(t, n, "data", "carol", connectOpts{autoSubscribe: true}, 1)

	recv := func(cl *client, want []byte, from string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case p := <-cl.data:
				msg := <-cl.msgs
				if bytes.Equal(msg, want) {
					if p.SenderIdentity != from {
						t.Fatalf("%s: message from %q, want %q", cl.room.LocalParticipant.Identity(), p.SenderIdentity, from)
					}
					return
				}
			case <-deadline:
				t.Fatalf("%s: did not receive %q", cl.room.LocalParticipant.Identity(), want)
			}
		}
	}
	// Reliable to everyone (connect returns once each client's connections, data channels included,
	// are up).
	if err := a.room.LocalParticipant.PublishDataPacket(lksdk.UserData([]byte("hello all")), lksdk.WithDataPublishReliable(true)); err != nil {
		t.Fatal(err)
	}
	recv(b, []byte("hello all"), "alice")
	recv(c, []byte("hello all"), "alice")
	// Lossy, to one destination.
	if err := b.room.LocalParticipant.PublishDataPacket(lksdk.UserData([]byte("just carol")),
		lksdk.WithDataPublishReliable(false), lksdk.WithDataPublishDestination([]string{"carol"})); err != nil {
		t.Fatal(err)
	}
	recv(c, []byte("just carol"), "bob")
	select {
	case <-a.msgs:
		t.Fatal("alice received a message addressed to carol")
	case <-time.After(300 * time.Millisecond):
	}
	// A message larger than the server's per-channel read buffer arrives whole, and the channel
	// goes on carrying small ones after it.
	big := bytes.Repeat([]byte("0123456789abcdef"), 20<<10/16)
	if err := c.room.LocalParticipant.PublishDataPacket(lksdk.UserData(big), lksdk.WithDataPublishReliable(true)); err != nil {
		t.Fatal(err)
	}
	recv(a, big, "carol")
	if err := c.room.LocalParticipant.PublishDataPacket(lksdk.UserData([]byte("after")), lksdk.WithDataPublishReliable(true)); err != nil {
		t.Fatal(err)
	}
	recv(a, []byte("after"), "carol")
	recv(b, big, "carol")
}

// After participants leave and the room closes, every goroutine the server started for them is
// gone. The clients run in a child process, so that the count is the node's alone.
func TestNoGoroutineLeakAfterRoomCloses(t *testing.T) {
	if testkit.ChildRole() == "leak-clients" {
		leakClients(t)
		return
	}
	// A client whose Leave does not get out before its websocket closes is kept for the resume
	// window: short here, so that the room closes within the test's wait either way.
	n := testkit.StartNode(t, func(c *config.Config) { c.Room.ResumeWindow = 2 * time.Second })
	m := testkit.MakeMedia(t)
	base := testkit.SettledGoroutines(5 * time.Second)

	child := testkit.StartChild(t, "TestNoGoroutineLeakAfterRoomCloses", "leak-clients",
		"HOP_LEAK_URL="+n.URL(), "HOP_LEAK_OPUS="+m.Opus, "HOP_LEAK_VP8="+m.VP8[180])
	child.Await("subscribed", 2*time.Minute)
	// One writer lane per connection that carries forwarded media, whatever the signalling mode:
	// publishing connections take none.
	if l := n.Engine().Writers().Lanes(); l != len(leakIdentities) {
		t.Errorf("%d writer lanes for %d subscribing connections", l, len(leakIdentities))
	}
	child.Tell("leave")
	child.Await("left", time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for n.Rooms().Room("leak") != nil {
		if time.Now().After(deadline) {
			t.Fatal("room did not close after everyone left")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := n.Engine().Stats().Snapshot().LaneRoutes; r != 0 {
		t.Errorf("%d peer addresses still routed to writers' batches after everyone left", r)
	}
	if l := n.Engine().Writers().Lanes(); l != 0 {
		t.Errorf("%d writer lanes still taken after everyone left", l)
	}
	// The child stays until the count is done: the SDK closes connections after Disconnect
	// returns, and a process that exits first leaves its TURN allocations behind on the node.
	testkit.WaitGoroutinesBack(t, base, 15*time.Second, child.Spare())
	child.Tell("exit")
	child.Wait(time.Minute)
}

var leakIdentities = []string{"alice", "bob", "carol"}

// leakClients is TestNoGoroutineLeakAfterRoomCloses's child: three participants publish to each
// other until the parent has counted their connections, then leave.
func leakClients(t *testing.T) {
	url := os.Getenv("HOP_LEAK_URL")
	var clients []*client
	for i, id := range leakIdentities {
		// No *testkit.Node here: connect uses it only for a URL and a token, both given.
		c := connect(t, nil, "leak", id, connectOpts{autoSubscribe: true, singlePC: i%2 == 1,
			url: url, token: testkit.DevToken(t, "leak", id)}, 60)
		publishFile(t, c, os.Getenv("HOP_LEAK_OPUS"), 20*time.Millisecond, "mic")
		publishFile(t, c, os.Getenv("HOP_LEAK_VP8"), 33*time.Millisecond, "cam")
		clients = append(clients, c)
	}
	for _, c := range clients {
		for _, other := range leakIdentities {
			if other == c.room.LocalParticipant.Identity() {
				continue
			}
			c.waitFor(other, webrtc.RTPCodecTypeVideo, 20*time.Second)
			c.waitFor(other, webrtc.RTPCodecTypeAudio, 20*time.Second)
		}
	}
	testkit.Say("subscribed")
	testkit.Hear(t, "leave")
	for _, c := range clients {
		c.room.Disconnect()
	}
	testkit.Say("left")
	testkit.Hear(t, "exit")
}

// A viewer on /rtc (a token that may send data but not media) costs the server one
// PeerConnection: the publishing one is made when the client first offers on it, here to send
// data, and none outlives the room. (Clients that may publish media are told to connect it at
// once, FastPublish: every publishing test covers that path too.)
func TestViewerHasOneConnection(t *testing.T) {
	n := testkit.StartNode(t, nil)
	m := testkit.MakeMedia(t)
	conns := func() int { return n.Engine().Stats().Snapshot().PeerConnections }
	alice := connect(t, n, "lazy", "alice", connectOpts{autoSubscribe: true}, 1)
	publishFile(t, alice, m.Opus, 20*time.Millisecond, "mic")
	no, yes := false, true
	bob := connect(t, n, "lazy", "bob", connectOpts{autoSubscribe: true,
		token: n.TokenWith(t, "lazy", "bob", func(g *lkauth.VideoGrant) { g.CanPublish, g.CanPublishData = &no, &yes })}, 20)
	bob.waitFor("alice", webrtc.RTPCodecTypeAudio, 20*time.Second)
	if got := conns(); got != 3 {
		t.Fatalf("%d PeerConnections for a publisher and a viewer, want 3", got)
	}
	// PublishDataPacket returns once bob's publisher connection is up and its channel open.
	if err := bob.room.LocalParticipant.PublishDataPacket(lksdk.UserData([]byte("hi")), lksdk.WithDataPublishReliable(true)); err != nil {
		t.Fatal(err)
	}
	if got := conns(); got != 4 {
		t.Fatalf("%d PeerConnections once the viewer sends data, want 4", got)
	}
	select {
	case msg := <-alice.msgs:
		if !bytes.Equal(msg, []byte("hi")) {
			t.Fatalf("alice received %q, want \"hi\"", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("alice did not receive the viewer's message")
	}
	alice.room.Disconnect()
	bob.room.Disconnect()
	deadline := time.Now().Add(10 * time.Second)
	for conns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d PeerConnections left after everyone left", conns())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Participants joining while a track is being published each get it exactly once: a joiner is in
// the room a moment before its connections exist, and the publication must neither reach it then
// (the node used to crash on that) nor be missed.
func TestJoinWhilePublishing(t *testing.T) {
	n := testkit.StartNode(t, nil)
	m := testkit.MakeMedia(t)
	alice := connect(t, n, "race", "alice", connectOpts{autoSubscribe: true}, 1)
	const joiners = 5
	got := make(chan *client, joiners)
	for i := range joiners {
		go func() {
			var c *client
			defer func() { got <- c }() // nil if connect failed the test (and ended this goroutine)
			c = connect(t, n, "race", fmt.Sprintf("viewer%d", i), connectOpts{autoSubscribe: true, singlePC: i%2 == 0}, 20)
		}()
	}
	publishFile(t, alice, m.Opus, 20*time.Millisecond, "mic")
	for range joiners {
		c := <-got
		if c == nil {
			t.FailNow()
		}
		c.waitFor("alice", webrtc.RTPCodecTypeAudio, 20*time.Second)
	}
}
