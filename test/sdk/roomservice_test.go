package sdk_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/twitchtv/twirp"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// LiveKit's RoomService, driven by server-sdk-go's RoomServiceClient: rooms are created, listed and
// deleted; an administrator mutes, demotes and removes participants and sends them data.
func TestRoomServiceWithServerSDK(t *testing.T) {
	n := testkit.StartNode(t, nil)
	m := testkit.MakeMedia(t)
	ctx := context.Background()
	rs := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)

	if _, err := rs.CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "board", MaxParticipants: 10, Metadata: "weekly"}); err != nil {
		t.Fatalf("create room: %v", err)
	}
	list, err := rs.ListRooms(ctx, &livekit.ListRoomsRequest{})
	if err != nil || len(list.Rooms) != 1 || list.Rooms[0].Name != "board" || list.Rooms[0].MaxParticipants != 10 || list.Rooms[0].Metadata != "weekly" {
		t.Fatalf("list rooms: %v %v", list, err)
	}

	muted := make(chan bool, 4)
	disconnected := make(chan lksdk.DisconnectionReason, 1)
	speaker := connect(t, n, "board", "speaker", connectOpts{autoSubscribe: true, callbacks: func(cb *lksdk.RoomCallback) {
		cb.OnDisconnectedWithReason = func(r lksdk.DisconnectionReason) { disconnected <- r }
	}}, 40)
	audience := connect(t, n, "board", "audience", connectOpts{autoSubscribe: true, callbacks: func(cb *lksdk.RoomCallback) {
		cb.OnTrackMuted = func(lksdk.TrackPublication, lksdk.Participant) { muted <- true }
	}}, 40)
	publishFile(t, speaker, m.Opus, 20*time.Millisecond, "mic")
	audience.waitFor("speaker", webrtc.RTPCodecTypeAudio, 15*time.Second)

	// The node's statistics count what it forwarded.
	resp, err := http.Get(n.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"hop_participants{", "hop_rooms{", "hop_packets_forwarded_total{"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %s", want)
		}
	}
	if m := regexp.MustCompile(`hop_packets_forwarded_total\{[^}]*\} ([0-9.e+]+)`).FindSubmatch(body); m == nil || string(m[1]) == "0" {
		t.Fatalf("no packets forwarded according to /metrics: %q", m)
	}

	ps, err := rs.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "board"})
	if err != nil || len(ps.Participants) != 2 {
		t.Fatalf("list participants: %v %v", ps, err)
	}
	var trackSID string
	for _, p := range ps.Participants {
		if p.Identity == "speaker" && len(p.Tracks) == 1 {
			trackSID = p.Tracks[0].Sid
		}
	}
	if trackSID == "" {
		t.Fatalf("speaker's track not listed: %v", ps)
	}

	// The chair mutes the speaker: everyone sees the track muted. Unmuting others is off by default.
	if _, err := rs.MutePublishedTrack(ctx, &livekit.MuteRoomTrackRequest{Room: "board", Identity: "speaker", TrackSid: trackSID, Muted: true}); err != nil {
		t.Fatalf("mute: %v", err)
	}
	select {
	case <-muted:
	case <-time.After(5 * time.Second):
		t.Fatal("the audience did not see the speaker muted")
	}
	_, err = rs.MutePublishedTrack(ctx, &livekit.MuteRoomTrackRequest{Room: "board", Identity: "speaker", TrackSid: trackSID, Muted: false})
	var te twirp.Error
	if !errors.As(err, &te) || te.Code() != twirp.PermissionDenied {
		t.Fatalf("remote unmute: %v, want permission_denied", err)
	}

	// Server data reaches the participants.
	if _, err := rs.SendData(ctx, &livekit.SendDataRequest{Room: "board", Data: []byte("from the chair"), Kind: livekit.DataPacket_RELIABLE}); err != nil {
		t.Fatalf("send data: %v", err)
	}
	select {
	case msg := <-audience.msgs:
		if string(msg) != "from the chair" {
			t.Fatalf("data: %q", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server data did not arrive")
	}

	// Metadata and name changes are broadcast.
	info, err := rs.UpdateParticipant(ctx, &livekit.UpdateParticipantRequest{Room: "board", Identity: "audience", Name: "Khán giả", Metadata: "seat 12"})
	if err != nil || info.Name != "Khán giả" || info.Metadata != "seat 12" {
		t.Fatalf("update participant: %v %v", info, err)
	}

	// Removing the speaker disconnects it with the reason.
	if _, err := rs.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "board", Identity: "speaker"}); err != nil {
		t.Fatalf("remove: %v", err)
	}
	select {
	case r := <-disconnected:
		if r != lksdk.ParticipantRemoved {
			t.Fatalf("speaker disconnected with %v, want ParticipantRemoved", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("speaker was not disconnected")
	}

	// A token without the grants is refused.
	other := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, "wrong-secret-wrong-secret")
	if _, err := other.ListRooms(ctx, &livekit.ListRoomsRequest{}); !errors.As(err, &te) || te.Code() != twirp.Unauthenticated {
		t.Fatalf("list rooms with a bad signature: %v", err)
	}

	if _, err := rs.DeleteRoom(ctx, &livekit.DeleteRoomRequest{Room: "board"}); err != nil {
		t.Fatalf("delete room: %v", err)
	}
	if r := n.Rooms().Room("board"); r != nil {
		t.Fatal("room still open after DeleteRoom")
	}
}
