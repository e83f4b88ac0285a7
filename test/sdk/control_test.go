package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// roleToken is a join token whose hop.role attribute names the participant's role in the meeting.
func roleToken(t *testing.T, room, identity, role string) string {
	t.Helper()
	tok, err := lkauth.NewAccessToken(config.DevAPIKey, config.DevAPISecret).SetIdentity(identity).SetName(identity).
		SetValidFor(time.Hour).SetVideoGrant(&lkauth.VideoGrant{RoomJoin: true, Room: room}).
		SetAttributes(map[string]string{"hop.role": role}).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// validate asks the node why a token cannot join, as livekit-client does after a failed connect.
func validate(t *testing.T, n *testkit.Node, tok string) (int, string) {
	t.Helper()
	resp, err := http.Get(n.HTTPURL + "/rtc/validate?access_token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// control calls the meeting-control API with tok.
func control(t *testing.T, n *testkit.Node, tok, room string, body map[string]any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, n.HTTPURL+"/api/rooms/"+room+"/control", bytes.NewReader(b))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func connectRefused(t *testing.T, n *testkit.Node, tok string) error {
	t.Helper()
	room, err := lksdk.ConnectToRoomWithToken(n.URL(), tok, lksdk.NewRoomCallback(),
		lksdk.WithICETransportPolicy(webrtc.ICETransportPolicyRelay), lksdk.WithDisableRegionDiscovery(),
		lksdk.WithConnectTimeout(10*time.Second))
	if err == nil {
		room.Disconnect()
		t.Fatal("a refused join connected")
	}
	return err
}

// A room capped at two refuses the third join with the "full" reason, counted, while the two go
// on exchanging media.
func TestRoomCapRefusesThirdJoin(t *testing.T) {
	n := testkit.StartNode(t, nil)
	m := testkit.MakeMedia(t)
	rs := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	if _, err := rs.CreateRoom(context.Background(), &livekit.CreateRoomRequest{Name: "capped", MaxParticipants: 2}); err != nil {
		t.Fatal(err)
	}
	alice := connect(t, n, "capped", "alice", connectOpts{autoSubscribe: true}, 1)
	bob := connect(t, n, "capped", "bob", connectOpts{autoSubscribe: true}, 1)
	publishFile(t, alice, m.Opus, 20*time.Millisecond, "mic")
	got := bob.waitFor("alice", webrtc.RTPCodecTypeAudio, 15*time.Second)
	connectRefused(t, n, n.Token(t, "capped", "carol"))
	if status, body := validate(t, n, n.Token(t, "capped", "carol")); status != http.StatusForbidden || !strings.Contains(body, "full") {
		t.Fatalf("validate for a third: %d %s", status, body)
	}
	before := got.count()
	got.waitCount(t, before+25, 10*time.Second) // half a second of audio after the refusals
	if v := n.Rooms().FullRefusals(); v < 2 {
		t.Fatalf("full refusals counted %d, want 2", v)
	}
}

// Moderation needs the grant or the role: a participant calling the chair's actions through the
// RoomService, the control API or its own signalling is refused and nothing changes; the host's
// actions work and the meeting log lists them in order.
func TestModerationIsTheChairs(t *testing.T) {
	n := testkit.StartNode(t, nil)
	ctx := context.Background()
	hostTok := roleToken(t, "council", "chair", "host")
	guestTok := roleToken(t, "council", "guest", "participant")
	disconnected := make(chan lksdk.DisconnectionReason, 1)
	connect(t, n, "council", "chair", connectOpts{autoSubscribe: true, token: hostTok}, 1)
	guest := connect(t, n, "council", "guest", connectOpts{autoSubscribe: true, token: guestTok, callbacks: func(cb *lksdk.RoomCallback) {
		cb.OnDisconnectedWithReason = func(r lksdk.DisconnectionReason) { disconnected <- r }
	}}, 1)

	// The guest's own token, used for the RoomService: no roomAdmin grant.
	req, _ := http.NewRequest(http.MethodPost, n.HTTPURL+"/twirp/livekit.RoomService/RemoveParticipant",
		strings.NewReader(`{"room":"council","identity":"chair"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+guestTok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("RoomService RemoveParticipant with a participant's token: %d", resp.StatusCode)
	}
	for _, action := range []map[string]any{{"action": "remove", "identity": "chair"}, {"action": "lock"}, {"action": "end"},
		{"action": "set-role", "identity": "guest", "role": "host"}, {"action": "mute-all"}} {
		if status, _ := control(t, n, guestTok, "council", action); status != http.StatusForbidden {
			t.Fatalf("control %v by a participant: %d", action, status)
		}
		if status, _ := control(t, n, "", "council", action); status != http.StatusUnauthorized {
			t.Fatalf("control %v without a token: %d", action, status)
		}
	}
	// Forging the chair's role over its own signalling is refused; a raised hand, sent after it
	// on the same connection, shows when the server has handled both.
	rsAdmin := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	guest.room.LocalParticipant.SetAttributes(map[string]string{"hop.role": "host"})
	guest.room.LocalParticipant.SetAttributes(map[string]string{"hop.hand": "1"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := rsAdmin.GetParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "council", Identity: "guest"})
		if err != nil {
			t.Fatal(err)
		}
		if p.Attributes["hop.hand"] == "1" {
			if p.Attributes["hop.role"] != "participant" {
				t.Fatalf("guest made itself %q", p.Attributes["hop.role"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest's hand never went up: %v", p.Attributes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := n.Rooms().Room("council"); r.Participant("chair") == nil || r.Settings().Locked {
		t.Fatal("a refused action changed the meeting")
	}

	// The chair locks the meeting, removes the guest and bars the rejoin.
	if status, body := control(t, n, hostTok, "council", map[string]any{"action": "lock"}); status != http.StatusOK {
		t.Fatalf("lock: %d %s", status, body)
	}
	if status, body := validate(t, n, n.Token(t, "council", "late")); status != http.StatusForbidden || !strings.Contains(body, "locked") {
		t.Fatalf("join while locked: %d %s", status, body)
	}
	control(t, n, hostTok, "council", map[string]any{"action": "unlock"})
	if status, body := control(t, n, hostTok, "council", map[string]any{"action": "remove", "identity": "guest", "bar": true}); status != http.StatusOK {
		t.Fatalf("remove: %d %s", status, body)
	}
	select {
	case r := <-disconnected:
		if r != lksdk.ParticipantRemoved {
			t.Fatalf("guest disconnected with %v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("guest not disconnected")
	}
	if status, body := validate(t, n, guestTok); status != http.StatusForbidden || !strings.Contains(body, "removed") {
		t.Fatalf("barred rejoin: %d %s", status, body)
	}

	// The log, read by the chair, lists what happened in order.
	lreq, _ := http.NewRequest(http.MethodGet, n.HTTPURL+"/api/rooms/council/log", nil)
	lreq.Header.Set("Authorization", "Bearer "+hostTok)
	lresp, err := http.DefaultClient.Do(lreq)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Entries []struct{ Action, Actor, Target, Addr string }
	}
	_ = json.NewDecoder(lresp.Body).Decode(&log)
	lresp.Body.Close()
	var got []string
	for _, e := range log.Entries {
		got = append(got, e.Action+":"+e.Actor+">"+e.Target)
		if e.Action == "join" && !strings.HasPrefix(e.Addr, "127.0.0.1:") {
			t.Errorf("join logged from %q", e.Addr)
		}
	}
	want := "join:chair> join:guest> lock:chair> refuse:late> unlock:chair> remove:chair>guest leave:guest> refuse:guest>"
	if strings.Join(got, " ") != want {
		t.Fatalf("meeting log\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	// A participant may not read it.
	lreq2, _ := http.NewRequest(http.MethodGet, n.HTTPURL+"/api/rooms/council/log", nil)
	lreq2.Header.Set("Authorization", "Bearer "+n.Token(t, "council", "nobody"))
	if r2, err := http.DefaultClient.Do(lreq2); err != nil || r2.StatusCode != http.StatusForbidden {
		t.Fatalf("log read by a non-participant: %v %v", r2.StatusCode, err)
	}
}

// The rest of LiveKit's RoomService, each call checked from the participants' side.
func TestRoomServiceCallsSeenByParticipants(t *testing.T) {
	n := testkit.StartNode(t, nil)
	m := testkit.MakeMedia(t)
	ctx := context.Background()
	rs := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	roomMeta := make(chan string, 4)
	alice := connect(t, n, "svc", "alice", connectOpts{autoSubscribe: true}, 1)
	bob := connect(t, n, "svc", "bob", connectOpts{autoSubscribe: true, callbacks: func(cb *lksdk.RoomCallback) {
		cb.OnRoomMetadataChanged = func(md string) { roomMeta <- md }
	}}, 1)
	carol := connect(t, n, "svc", "carol", connectOpts{autoSubscribe: true}, 1)
	publishFile(t, alice, m.Opus, 20*time.Millisecond, "mic")
	got := bob.waitFor("alice", webrtc.RTPCodecTypeAudio, 15*time.Second)

	p, err := rs.GetParticipant(ctx, &livekit.RoomParticipantIdentity{Room: "svc", Identity: "alice"})
	if err != nil || len(p.Tracks) != 1 || p.Tracks[0].Source != livekit.TrackSource_MICROPHONE {
		t.Fatalf("get participant: %v %v", p, err)
	}
	if _, err := rs.UpdateRoomMetadata(ctx, &livekit.UpdateRoomMetadataRequest{Room: "svc", Metadata: "phiên 2"}); err != nil {
		t.Fatal(err)
	}
	select {
	case md := <-roomMeta:
		if md != "phiên 2" {
			t.Fatalf("room metadata %q", md)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("room metadata change not seen")
	}
	if _, err := rs.UpdateSubscriptions(ctx, &livekit.UpdateSubscriptionsRequest{Room: "svc", Identity: "bob",
		TrackSids: []string{p.Tracks[0].Sid}, Subscribe: false}); err != nil {
		t.Fatal(err)
	}
	// Bob stops receiving alice's audio.
	stopped := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !stopped; {
		before := got.count()
		time.Sleep(500 * time.Millisecond) // no event marks "no packet came": sample the count
		stopped = got.count() == before
	}
	if !stopped {
		t.Fatal("bob still receives alice's audio after UpdateSubscriptions")
	}
	if _, err := rs.SendData(ctx, &livekit.SendDataRequest{Room: "svc", Data: []byte("chỉ cho carol"),
		Kind: livekit.DataPacket_RELIABLE, DestinationIdentities: []string{"carol"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-carol.msgs:
		if string(msg) != "chỉ cho carol" {
			t.Fatalf("carol got %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("carol did not get the data")
	}
	select {
	case msg := <-bob.msgs:
		t.Fatalf("bob got data addressed to carol: %q", msg)
	case <-time.After(300 * time.Millisecond):
	}
}
