package sdk_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// A meeting told to the operator's endpoint as LiveKit's webhooks, signed with the node's key:
// the room starts, people join, publish, are recorded, leave, and the room finishes; each event
// once, those of the room in the order they happened.
func TestWebhooks(t *testing.T) {
	hooks := testkit.StartWebhooks(t)
	n := testkit.StartNode(t, func(c *config.Config) {
		c.Recorder.Dir = t.TempDir()
		c.Webhook.URLs = []string{hooks.URL}
		c.Webhook.APIKey = config.DevAPIKey
	})
	m := testkit.MakeMedia(t)
	ctx := context.Background()
	began := time.Now()
	alice := connect(t, n, "hooks", "alice", connectOpts{autoSubscribe: true}, 1)
	bob := connect(t, n, "hooks", "bob", connectOpts{autoSubscribe: true}, 1)
	publishFile(t, alice, m.Opus, 20*time.Millisecond, "mic")
	bob.waitFor("alice", "audio", 20*time.Second)
	hooks.WaitFor(t, "track_published alice mic")
	t.Logf("%.1f s: %s", time.Since(began).Seconds(), "track_published alice mic")

	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	eg, err := ec.StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: "hooks", AudioOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // something to record
	if _, err := ec.StopEgress(ctx, &livekit.StopEgressRequest{EgressId: eg.EgressId}); err != nil {
		t.Fatal(err)
	}
	hooks.WaitFor(t, "egress_ended "+livekit.EgressStatus_EGRESS_COMPLETE.String())
	t.Logf("%.1f s: %s", time.Since(began).Seconds(), "egress_ended "+livekit.EgressStatus_EGRESS_COMPLETE.String())

	alice.room.Disconnect()
	hooks.WaitFor(t, "participant_left alice")
	t.Logf("%.1f s: %s", time.Since(began).Seconds(), "participant_left alice")
	bob.room.Disconnect()
	got := hooks.WaitFor(t, "room_finished")
	t.Logf("%d events in %.1f s", len(got), time.Since(began).Seconds())

	want := []string{
		"room_started",
		"participant_joined alice",
		"participant_joined bob",
		"track_published alice mic",
		"egress_started " + livekit.EgressStatus_EGRESS_ACTIVE.String(),
		"egress_ended " + livekit.EgressStatus_EGRESS_COMPLETE.String(),
		"participant_left alice",
		"track_unpublished alice mic",
		"participant_left bob",
		"room_finished",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("webhook events\n got %q\nwant %q", got, want)
	}
	events, bad := hooks.Events()
	if len(bad) > 0 {
		t.Errorf("requests LiveKit's receiver refused: %v", bad)
	}
	ids := map[string]bool{}
	for _, e := range events {
		if e.Id == "" || ids[e.Id] || e.CreatedAt == 0 {
			t.Errorf("event %q: id %q (repeated: %v), created %d", testkit.EventName(e), e.Id, ids[e.Id], e.CreatedAt)
		}
		ids[e.Id] = true
		if e.EgressInfo == nil && (e.Room == nil || e.Room.Name != "hooks" || e.Room.Sid == "") {
			t.Errorf("event %q names room %v", testkit.EventName(e), e.Room)
		}
	}
}
