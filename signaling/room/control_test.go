package room

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/routing"
)

func asRole(role string) joinOpt {
	return func(jp *routing.JoinParams) { jp.Grants.Attributes = map[string]string{attrRole: role} }
}

// serverMessages decodes what the server sent the member on its data channel, on topic.
func (m *member) serverMessages(topic string) []map[string]any {
	dc := m.participant().data.channel(livekit.DataPacket_RELIABLE).(*fakeDataChannel)
	var out []map[string]any
	for _, b := range dc.messages() {
		var pkt livekit.DataPacket
		if proto.Unmarshal(b, &pkt) != nil || pkt.GetUser().GetTopic() != topic {
			continue
		}
		var v map[string]any
		if json.Unmarshal(pkt.GetUser().Payload, &v) == nil {
			out = append(out, v)
		}
	}
	return out
}

func (m *member) notices() []string {
	var codes []string
	for _, n := range m.serverMessages(topicNotice) {
		codes = append(codes, n["code"].(string))
	}
	return codes
}

func hasNotice(m *member, code string) bool {
	for _, c := range m.notices() {
		if c == code {
			return true
		}
	}
	return false
}

func actor(m *member) Actor { return Actor{Identity: m.identity(), Name: m.identity()} }

func TestRolesFromTokens(t *testing.T) {
	h := newHarness(t, nil)
	chair := h.join("r", "chair", withGrant(func(g *lkauth.VideoGrant) { g.RoomAdmin = true }))
	guest := h.join("r", "guest")
	viewer := h.join("r", "viewer", asRole("viewer"))
	for m, want := range map[*member]Role{chair: RoleHost, guest: RoleParticipant, viewer: RoleViewer} {
		if got := m.participant().role(); got != want {
			t.Errorf("%s has role %s, want %s", m.identity(), got, want)
		}
		if got := m.join.Participant.Attributes[attrRole]; got != string(want) {
			t.Errorf("%s's join response shows role %q", m.identity(), got)
		}
	}
	if viewer.join.Participant.Permission.CanPublish {
		t.Error("a viewer may publish")
	}
	// A client cannot make itself host, at join or later; it may raise its hand without the
	// metadata grant.
	sneaky := h.join("r", "sneaky", func(jp *routing.JoinParams) {
		jp.Request.ParticipantAttributes = map[string]string{attrRole: "host"}
	})
	if sneaky.participant().role() != RoleParticipant {
		t.Fatal("join-request attributes made a participant host")
	}
	sneaky.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{
		Attributes: map[string]string{attrRole: "host"}, RequestId: 1}}})
	if r := sneaky.next("refusal", func(r *livekit.SignalResponse) bool { return r.GetRequestResponse().GetRequestId() == 1 }); r.GetRequestResponse().Reason != livekit.RequestResponse_NOT_ALLOWED {
		t.Fatalf("setting hop.role: %v", r.GetRequestResponse())
	}
	sneaky.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{
		Attributes: map[string]string{attrHand: "1700000000000"}, RequestId: 2}}})
	if r := sneaky.next("hand", func(r *livekit.SignalResponse) bool { return r.GetRequestResponse().GetRequestId() == 2 }); r.GetRequestResponse().Reason != livekit.RequestResponse_OK {
		t.Fatalf("raising a hand: %v", r.GetRequestResponse())
	}
	if sneaky.participant().role() != RoleParticipant {
		t.Fatal("role changed")
	}
}

func TestOnlyModeratorsControl(t *testing.T) {
	h := newHarness(t, nil)
	host := h.join("r", "host", asRole("host"))
	co := h.join("r", "co", asRole("cohost"))
	guest := h.join("r", "guest")
	r := h.m.Room("r")
	for _, req := range []ControlRequest{{Action: "lock"}, {Action: "remove", Identity: "host"}, {Action: "end"},
		{Action: "mute-all"}, {Action: "set-role", Identity: "guest", Role: "host"}} {
		if err := r.Act(actor(guest), req); !errors.Is(err, ErrForbidden) {
			t.Errorf("participant %s: %v, want forbidden", req.Action, err)
		}
	}
	if r.Settings().Locked || r.Participant("host") == nil {
		t.Fatal("a refused action changed the meeting")
	}
	// A co-host runs the meeting but neither ends it nor touches the chair.
	if err := r.Act(actor(co), ControlRequest{Action: "end"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("co-host ends the meeting: %v", err)
	}
	if err := r.Act(actor(co), ControlRequest{Action: "set-role", Identity: "guest", Role: "host"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("co-host makes a host: %v", err)
	}
	if err := r.Act(actor(co), ControlRequest{Action: "remove", Identity: "host"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("co-host removes the host: %v", err)
	}
	if err := r.Act(actor(co), ControlRequest{Action: "lock"}); err != nil || !r.Settings().Locked {
		t.Fatalf("co-host locks: %v", err)
	}
	// The host hands over the chair and stays as co-host.
	if err := r.Act(actor(host), ControlRequest{Action: "set-role", Identity: "guest", Role: "host"}); err != nil {
		t.Fatal(err)
	}
	if guest.participant().role() != RoleHost || host.participant().role() != RoleCohost {
		t.Fatalf("after hand-over: guest %s, host %s", guest.participant().role(), host.participant().role())
	}
	if !hasNotice(guest, "role-host") {
		t.Error("new chair not told")
	}
	if err := r.Act(Actor{Identity: "ops", Admin: true}, ControlRequest{Action: "unlock"}); err != nil || r.Settings().Locked {
		t.Fatalf("admin unlocks: %v", err)
	}
}

func TestLockBarAndCap(t *testing.T) {
	h := newHarness(t, nil)
	host := h.join("r", "host", asRole("host"))
	h.join("r", "bob")
	r := h.m.Room("r")
	if err := r.Act(actor(host), ControlRequest{Action: "lock"}); err != nil {
		t.Fatal(err)
	}
	var je *JoinError
	if _, err := h.tryJoin("r", "carol"); !errors.As(err, &je) || je.Status != http.StatusForbidden || !strings.Contains(je.Msg, "locked") {
		t.Fatalf("join while locked: %v", err)
	}
	h.join("r", "cohost2", asRole("cohost")) // those who run the meeting still get in
	_ = r.Act(actor(host), ControlRequest{Action: "unlock"})
	if err := r.Act(actor(host), ControlRequest{Action: "remove", Identity: "bob", Bar: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.tryJoin("r", "bob"); !errors.As(err, &je) || !strings.Contains(je.Msg, "removed") {
		t.Fatalf("barred rejoin: %v", err)
	}
	three := 3
	if err := r.Act(actor(host), ControlRequest{Action: "settings", MaxParticipants: &three}); err != nil {
		t.Fatal(err)
	}
	h.join("r", "dave")
	if _, err := h.tryJoin("r", "erin"); !errors.As(err, &je) || !strings.Contains(je.Msg, "full") {
		t.Fatalf("join beyond the meeting's cap: %v", err)
	}
	if h.m.FullRefusals() != 1 {
		t.Fatalf("full refusals counted %d", h.m.FullRefusals())
	}
	var actions []string
	for _, e := range r.Log() {
		actions = append(actions, e.Action+":"+e.Actor+">"+e.Target)
	}
	want := "join:host> join:bob> lock:host> refuse:carol> join:cohost2> unlock:host> remove:host>bob leave:bob> refuse:bob> settings:host> join:dave> refuse:erin>"
	if got := strings.Join(actions, " "); got != want {
		t.Fatalf("meeting log\n got %s\nwant %s", got, want)
	}
}

func TestMuteAllBlocksUnmute(t *testing.T) {
	h := newHarness(t, nil)
	host := h.join("r", "host", asRole("host"))
	host.activate()
	bob := h.join("r", "bob")
	bob.activate()
	sid := bob.publish("mic", livekit.TrackType_AUDIO, livekit.TrackSource_MICROPHONE)
	r := h.m.Room("r")
	if err := r.Act(actor(host), ControlRequest{Action: "mute-all", Block: true}); err != nil {
		t.Fatal(err)
	}
	bob.next("mute", func(r *livekit.SignalResponse) bool { return r.GetMute().GetSid() == sid && r.GetMute().Muted })
	if !bob.participant().trackInfo(sid).Muted {
		t.Fatal("bob's microphone not muted")
	}
	bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Mute{Mute: &livekit.MuteTrackRequest{Sid: sid, Muted: false}}})
	bob.next("re-mute", func(r *livekit.SignalResponse) bool { return r.GetMute().GetSid() == sid && r.GetMute().Muted })
	if !bob.participant().trackInfo(sid).Muted {
		t.Fatal("bob unmuted while the host blocks it")
	}
	eventually(t, "bob told why", func() bool { return hasNotice(bob, "unmute-blocked") })
	if err := r.Act(actor(host), ControlRequest{Action: "allow-unmute"}); err != nil {
		t.Fatal(err)
	}
	bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Mute{Mute: &livekit.MuteTrackRequest{Sid: sid, Muted: false}}})
	eventually(t, "bob unmuted once allowed", func() bool { return !bob.participant().trackInfo(sid).Muted })
}

func TestViewerOnStage(t *testing.T) {
	h := newHarness(t, nil)
	host := h.join("r", "host", asRole("host"))
	v := h.join("r", "v", asRole("viewer"))
	addMic := func(cid string) *livekit.SignalResponse {
		v.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
			Cid: cid, Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE}}})
		return v.next("answer to "+cid, func(r *livekit.SignalResponse) bool {
			return r.GetRequestResponse().GetAddTrack().GetCid() == cid || r.GetTrackPublished().GetCid() == cid
		})
	}
	if r := addMic("a"); r.GetRequestResponse() == nil {
		t.Fatal("a viewer off stage published")
	}
	r := h.m.Room("r")
	if err := r.Act(actor(host), ControlRequest{Action: "stage", Identity: "v", On: true}); err != nil {
		t.Fatal(err)
	}
	if r := addMic("b"); r.GetTrackPublished() == nil {
		t.Fatalf("a viewer on stage could not publish: %v", r)
	}
	if err := r.Act(actor(host), ControlRequest{Action: "stage", Identity: "host", On: true}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("stage for a non-viewer: %v", err)
	}
}

func TestLobbyAdmitAndDeny(t *testing.T) {
	h := newHarness(t, nil)
	host := h.join("r", "host", asRole("host"))
	r := h.m.Room("r")
	on := true
	if err := r.Act(actor(host), ControlRequest{Action: "settings", Lobby: &on}); err != nil {
		t.Fatal(err)
	}
	ticket := r.Knock("guest-1", "Nguyễn Văn An", "10.0.0.7:5555")
	denied := r.Knock("guest-2", "Kẻ lạ", "10.0.0.8:5555")
	queues := host.serverMessages(topicLobby)
	last := queues[len(queues)-1]["waiting"].([]any)
	if len(last) != 2 || last[0].(map[string]any)["name"] != "Nguyễn Văn An" {
		t.Fatalf("host sees the queue %v", last)
	}
	ctx := context.Background()
	if err := r.Await(ctx, ticket, 20*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("await before a decision: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Await(ctx, ticket, 5*time.Second) }()
	if err := r.Act(actor(host), ControlRequest{Action: "admit", ID: ticket}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("admitted guest: %v", err)
	}
	if err := r.Act(actor(host), ControlRequest{Action: "deny", ID: denied}); err != nil {
		t.Fatal(err)
	}
	if err := r.Await(ctx, denied, time.Second); !errors.Is(err, ErrLobbyDenied) {
		t.Fatalf("denied guest: %v", err)
	}
	if len(r.Waiting()) != 0 {
		t.Fatal("queue not empty after the decisions")
	}
	if err := r.Act(actor(host), ControlRequest{Action: "admit", ID: "nope"}); !errors.Is(err, ErrTicketUnknown) {
		t.Fatalf("unknown ticket: %v", err)
	}
}

func TestChairPassesOnWhenTheLastHostLeaves(t *testing.T) {
	h := newHarness(t, nil)
	host := h.join("r", "host", asRole("host"))
	first := h.join("r", "first")
	co := h.join("r", "co", asRole("cohost"))
	host.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	eventually(t, "co-host becomes host", func() bool { return co.participant().role() == RoleHost })
	co.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	eventually(t, "longest-present participant becomes host", func() bool { return first.participant().role() == RoleHost })
}

func TestSettingsRuleChatAndScreenShare(t *testing.T) {
	h := newHarness(t, nil)
	host := h.join("r", "host", asRole("host"))
	bob := h.join("r", "bob")
	r := h.m.Room("r")
	off, hosts := false, "hosts"
	if err := r.Act(actor(host), ControlRequest{Action: "settings", Chat: &off, ScreenShareMode: &hosts}); err != nil {
		t.Fatal(err)
	}
	settings := bob.serverMessages(topicSettings)
	if last := settings[len(settings)-1]; last["chat"] != false || last["screenShare"] != "hosts" {
		t.Fatalf("bob was told %v", last)
	}
	topic := "lk-chat-topic"
	b, _ := proto.Marshal(&livekit.DataPacket{Value: &livekit.DataPacket_User{User: &livekit.UserPacket{Payload: []byte("hi"), Topic: &topic}}})
	before := len(host.participant().data.channel(livekit.DataPacket_RELIABLE).(*fakeDataChannel).messages())
	bob.participant().handleData(livekit.DataPacket_RELIABLE, b)
	if after := len(host.participant().data.channel(livekit.DataPacket_RELIABLE).(*fakeDataChannel).messages()); after != before {
		t.Fatal("chat forwarded while disabled")
	}
	if !hasNotice(bob, "chat-disabled") {
		t.Fatal("bob not told chat is off")
	}
	bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: "s", Type: livekit.TrackType_VIDEO, Source: livekit.TrackSource_SCREEN_SHARE}}})
	if r := bob.next("refusal", func(r *livekit.SignalResponse) bool { return r.GetRequestResponse() != nil }); r.GetRequestResponse().Reason != livekit.RequestResponse_NOT_ALLOWED {
		t.Fatalf("screen share by a participant when hosts only: %v", r.GetRequestResponse())
	}
	// The password gate.
	pw := "Họp-2026"
	if err := r.Act(actor(host), ControlRequest{Action: "settings", Password: &pw}); err != nil {
		t.Fatal(err)
	}
	if r.CheckPassword("wrong") || !r.CheckPassword(pw) || !r.Settings().HasPassword {
		t.Fatal("password check")
	}
}

func TestNodeParticipantCap(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.NodeParticipants = 2 })
	h.join("a", "alice")
	h.join("b", "bob")
	var je *JoinError
	if _, err := h.tryJoin("c", "carol"); !errors.As(err, &je) || je.Status != http.StatusServiceUnavailable || !strings.Contains(je.Msg, "full") {
		t.Fatalf("third participant on a node capped at two: %v", err)
	}
	if h.m.FullRefusals() != 1 {
		t.Fatal("refusal not counted")
	}
}

// A participant cannot speak for the node: packets on its hop.* topics are not forwarded. Someone
// who leaves the lobby leaves its queue.
func TestForgedNoticesAndWithdrawnKnocks(t *testing.T) {
	h := newHarness(t, nil)
	host := h.join("r", "host", asRole("host"))
	bob := h.join("r", "bob")
	r := h.m.Room("r")
	topic := "hop.notice"
	b, _ := proto.Marshal(&livekit.DataPacket{Value: &livekit.DataPacket_User{User: &livekit.UserPacket{
		Payload: []byte(`{"code":"role-host"}`), Topic: &topic}}})
	before := len(host.serverMessages(topicNotice))
	bob.participant().handleData(livekit.DataPacket_RELIABLE, b)
	if len(host.serverMessages(topicNotice)) != before {
		t.Fatal("a participant's packet on hop.notice was forwarded")
	}
	ticket := r.Knock("g", "Guest", "")
	if len(r.Waiting()) != 1 {
		t.Fatal("knock not queued")
	}
	if err := r.Withdraw(ticket); err != nil {
		t.Fatal(err)
	}
	if len(r.Waiting()) != 0 {
		t.Fatal("withdrawn knock still queued")
	}
	if err := r.Await(context.Background(), ticket, time.Second); !errors.Is(err, ErrLobbyTimeout) {
		t.Fatalf("await after withdrawing: %v", err)
	}
	if err := r.Act(actor(host), ControlRequest{Action: "admit", ID: ticket}); !errors.Is(err, ErrTicketUnknown) {
		t.Fatalf("admitting a withdrawn knock: %v", err)
	}
}

// The lobby's limit is the node's setting: a knock nobody answers within it is told so.
func TestLobbyWaitIsConfigurable(t *testing.T) {
	h := &harness{t: t, media: &fakeMedia{}}
	h.m = NewManager(Config{NodeID: "ND_a", AutoCreate: true, EmptyTimeout: time.Minute, DepartureTimeout: time.Minute,
		LobbyWait: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h.media, routing.NewMemoryRegistry())
	t.Cleanup(h.m.Close)
	h.join("r", "host")
	r := h.m.Room("r")
	ticket := r.Knock("g", "Guest", "")
	began := time.Now()
	// Asked to wait up to a minute, the knock is answered at the lobby's limit.
	if err := r.Await(context.Background(), ticket, time.Minute); !errors.Is(err, ErrLobbyTimeout) {
		t.Fatalf("await past the lobby's limit: %v", err)
	}
	if waited := time.Since(began); waited > 30*time.Second {
		t.Fatalf("the knock waited %v; the lobby's limit is 200 ms", waited)
	}
}
