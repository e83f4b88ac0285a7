package sdk_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// The chair records the meeting from the meeting itself: a participant may not; the host's "record"
// starts one room composite (asking twice starts no second), everyone sees active_recording, and
// stopping it leaves the composite file. A room created with LiveKit's room egress configuration
// is recorded from its start.
func TestHostRecordsTheMeeting(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) { c.Recorder.Dir = t.TempDir() })
	m := testkit.MakeMedia(t)
	ctx := context.Background()
	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	rs := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	hostTok := roleToken(t, "board", "chair", "host")
	guestTok := roleToken(t, "board", "guest", "participant")
	connect(t, n, "board", "chair", connectOpts{autoSubscribe: true, token: hostTok}, 1)
	guest := connect(t, n, "board", "guest", connectOpts{autoSubscribe: true, token: guestTok}, 1)
	publishFile(t, guest, m.Opus, 20*time.Millisecond, "mic")

	egresses := func(room string, active bool) []*livekit.EgressInfo {
		t.Helper()
		r, err := ec.ListEgress(ctx, &livekit.ListEgressRequest{RoomName: room, Active: active})
		if err != nil {
			t.Fatal(err)
		}
		return r.Items
	}
	recording := func(room string) bool {
		t.Helper()
		r, err := rs.ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{room}})
		if err != nil || len(r.Rooms) != 1 {
			t.Fatalf("list rooms: %v %v", r, err)
		}
		return r.Rooms[0].ActiveRecording
	}

	if status, body := control(t, n, guestTok, "board", map[string]any{"action": "record", "on": true}); status != http.StatusForbidden {
		t.Fatalf("a participant's record: %d %s, want 403", status, body)
	}
	if len(egresses("board", false)) != 0 || recording("board") {
		t.Fatal("a refused record started a recording")
	}
	for range 2 {
		if status, body := control(t, n, hostTok, "board", map[string]any{"action": "record", "on": true}); status != http.StatusOK {
			t.Fatalf("the host's record: %d %s", status, body)
		}
	}
	active := egresses("board", true)
	if len(active) != 1 || active[0].GetRoomComposite() == nil {
		t.Fatalf("after the host's record (twice): %v, want one room composite", active)
	}
	if !recording("board") {
		t.Fatal("the room does not show active_recording")
	}
	time.Sleep(2 * time.Second) // two seconds of the meeting
	if status, body := control(t, n, hostTok, "board", map[string]any{"action": "record", "on": false}); status != http.StatusOK {
		t.Fatalf("the host's stop: %d %s", status, body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		all := egresses("board", false)
		if len(all) == 1 && all[0].Status == livekit.EgressStatus_EGRESS_COMPLETE {
			if f := all[0].GetFile(); f == nil || !strings.HasSuffix(f.Filename, "composite.mp4") {
				t.Fatalf("the meeting's recording completed without its composite: %v", all[0])
			}
			break
		}
		if time.Now().After(deadline) || (len(all) == 1 && all[0].Status == livekit.EgressStatus_EGRESS_FAILED) {
			t.Fatalf("the meeting's recording did not complete: %v", all)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if recording("board") {
		t.Fatal("active_recording stayed on after the recording stopped")
	}

	// Recorded from its creation, as LiveKit's room configuration asks.
	if _, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "hearing",
		Egress: &livekit.RoomEgress{Room: &livekit.RoomCompositeEgressRequest{}}}); err != nil {
		t.Fatal(err)
	}
	if got := egresses("hearing", true); len(got) != 1 || !recording("hearing") {
		t.Fatalf("a room created with a room egress: %v recordings, active_recording %v", got, recording("hearing"))
	}
}
