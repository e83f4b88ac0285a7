package sdk_test

import (
	"bytes"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/signaling/chat"
)

// Someone who joins late receives the chat sent to everyone before, as live chat, and not the
// messages that were addressed to one person or were not chat.
func TestLateJoinerGetsChatHistory(t *testing.T) {
	n := testkit.StartNode(t, nil)
	alice := connect(t, n, "chat", "alice", connectOpts{autoSubscribe: true}, 1)
	bob := connect(t, n, "chat", "bob", connectOpts{autoSubscribe: true, singlePC: true}, 1)
	send := func(c *client, msg string, opts ...lksdk.DataPublishOption) {
		t.Helper()
		opts = append(opts, lksdk.WithDataPublishReliable(true))
		if err := c.room.LocalParticipant.PublishDataPacket(lksdk.UserData([]byte(msg)), opts...); err != nil {
			t.Fatal(err)
		}
	}
	send(alice, "xin chào", lksdk.WithDataPublishTopic(chat.Topic))
	// The room keeps chat in the order it arrives: bob answers once he has read alice.
	for deadline := time.After(10 * time.Second); ; {
		select {
		case m := <-bob.msgs:
			if !bytes.Equal(m, []byte("xin chào")) {
				continue
			}
		case <-deadline:
			t.Fatal("bob did not receive alice's message")
		}
		break
	}
	send(bob, "just for alice", lksdk.WithDataPublishTopic(chat.Topic), lksdk.WithDataPublishDestination([]string{"alice"}))
	send(bob, "not chat", lksdk.WithDataPublishTopic("cursor"))
	send(bob, "chào chị", lksdk.WithDataPublishTopic(chat.Topic))
	// Bob's last message reached alice: everything before it is in the room's history.
	deadline := time.After(10 * time.Second)
	for got := false; !got; {
		select {
		case m := <-alice.msgs:
			got = bytes.Equal(m, []byte("chào chị"))
		case <-deadline:
			t.Fatal("alice did not receive bob's message")
		}
	}
	for _, mode := range []bool{false, true} {
		id := "carol"
		if mode {
			id = "dave"
		}
		late := connect(t, n, "chat", id, connectOpts{autoSubscribe: true, singlePC: mode}, 1)
		var got []string
		timeout := time.After(10 * time.Second)
		for len(got) < 2 {
			select {
			case m := <-late.msgs:
				got = append(got, string(m))
			case <-timeout:
				t.Fatalf("%s received %q of the history, want [xin chào chào chị]", id, got)
			}
		}
		if got[0] != "xin chào" || got[1] != "chào chị" {
			t.Fatalf("%s received %q, want [xin chào chào chị] in order", id, got)
		}
		select {
		case m := <-late.msgs:
			t.Fatalf("%s also received %q", id, m)
		case <-time.After(300 * time.Millisecond):
		}
	}
}
