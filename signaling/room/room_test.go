package room

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/routing"
)

// These tests drive the meeting's rules through the routing seam with a fake media engine: no
// websocket, no PeerConnection, no socket.

type harness struct {
	t     *testing.T
	m     *Manager
	media *fakeMedia
}

func newHarness(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	cfg := Config{
		NodeID:           "ND_test",
		AutoCreate:       true,
		EmptyTimeout:     5 * time.Second,
		DepartureTimeout: 50 * time.Millisecond,
		ResumeWindow:     150 * time.Millisecond,
		Limits:           Limits{MaxDataPacket: 64 << 10, MaxMetadata: 1024},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	h := &harness{t: t, media: &fakeMedia{}}
	h.m = NewManager(cfg, h.media, routing.NewMemoryRegistry())
	t.Cleanup(func() {
		// Manager.Close waits for every participant goroutine: a goroutine stuck for good (a
		// close that waits for itself) shows here as a hang.
		done := make(chan struct{})
		go func() { h.m.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("manager did not close: participant goroutines still running")
		}
	})
	return h
}

type member struct {
	t    *testing.T
	h    *harness
	room string
	sess routing.Session
	join *livekit.JoinResponse
}

type joinOpt func(*routing.JoinParams)

func withGrant(f func(*lkauth.VideoGrant)) joinOpt {
	return func(jp *routing.JoinParams) { f(jp.Grants.Video) }
}

func noAutoSubscribe(jp *routing.JoinParams) { jp.AutoSubscribe = false }

func grantsFor(room, identity string) *auth.Grants {
	return &auth.Grants{ClaimGrants: &lkauth.ClaimGrants{Identity: identity, Name: identity,
		Video: &lkauth.VideoGrant{RoomJoin: true, Room: room}}}
}

func (h *harness) tryJoin(room, identity string, opts ...joinOpt) (*member, error) {
	jp := &routing.JoinParams{Room: room, Grants: grantsFor(room, identity), AutoSubscribe: true,
		ClientInfo: &livekit.ClientInfo{Sdk: livekit.ClientInfo_JS}, Request: &livekit.JoinRequest{}}
	for _, o := range opts {
		o(jp)
	}
	sess, err := h.m.StartSession(context.Background(), jp)
	if err != nil {
		return nil, err
	}
	m := &member{t: h.t, h: h, room: room, sess: sess}
	m.join = m.next("join response", func(r *livekit.SignalResponse) bool { return r.GetJoin() != nil }).GetJoin()
	return m, nil
}

func (h *harness) join(room, identity string, opts ...joinOpt) *member {
	h.t.Helper()
	m, err := h.tryJoin(room, identity, opts...)
	if err != nil {
		h.t.Fatalf("%s joins %s: %v", identity, room, err)
	}
	return m
}

func (m *member) identity() string { return m.join.Participant.Identity }

func (m *member) participant() *Participant {
	r := m.h.m.Room(m.room)
	if r == nil {
		return nil
	}
	return r.Participant(m.identity())
}

// next reads responses until want accepts one.
func (m *member) next(what string, want func(*livekit.SignalResponse) bool) *livekit.SignalResponse {
	m.t.Helper()
	deadline := time.After(2 * time.Second)
	for {
		select {
		case r, ok := <-m.sess.Responses():
			if !ok {
				m.t.Fatalf("%s: session ended while waiting for %s", m.identity(), what)
			}
			if want(r) {
				return r
			}
		case <-deadline:
			m.t.Fatalf("%s: no %s within 2s", m.identityOrEmpty(), what)
		}
	}
}

func (m *member) identityOrEmpty() string {
	if m.join == nil {
		return "?"
	}
	return m.identity()
}

// ended waits for the session to end and returns the Leave it carried, if any.
func (m *member) ended() *livekit.LeaveRequest {
	m.t.Helper()
	var leave *livekit.LeaveRequest
	deadline := time.After(2 * time.Second)
	for {
		select {
		case r, ok := <-m.sess.Responses():
			if !ok {
				return leave
			}
			if l := r.GetLeave(); l != nil {
				leave = l
			}
		case <-deadline:
			m.t.Fatalf("%s: session did not end", m.identity())
		}
	}
}

func (m *member) send(req *livekit.SignalRequest) {
	m.t.Helper()
	if err := m.sess.Send(req); err != nil {
		m.t.Fatalf("%s: send: %v", m.identity(), err)
	}
}

// activate connects the participant's primary connection.
func (m *member) activate() {
	m.t.Helper()
	p := m.participant()
	c := p.conns.downstream().(*fakeConn)
	c.connect()
	m.next("active state", func(r *livekit.SignalResponse) bool {
		for _, pi := range r.GetUpdate().GetParticipants() {
			if pi.Sid == m.join.Participant.Sid && pi.State == livekit.ParticipantInfo_ACTIVE {
				return true
			}
		}
		return false
	})
}

// publish announces a track, offers, and makes its media arrive; it returns the track's SID.
func (m *member) publish(cid string, kind livekit.TrackType, source livekit.TrackSource) string {
	m.t.Helper()
	m.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: cid, Type: kind, Source: source, Name: cid}}})
	sid := m.next("track published", func(r *livekit.SignalResponse) bool { return r.GetTrackPublished().GetCid() == cid }).
		GetTrackPublished().Track.Sid
	m.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "v=0 offer"}}})
	m.next("answer", func(r *livekit.SignalResponse) bool { return r.GetAnswer() != nil })
	wk := webrtc.RTPCodecTypeAudio
	if kind == livekit.TrackType_VIDEO {
		wk = webrtc.RTPCodecTypeVideo
	}
	m.participant().conns.publisher().(*fakeConn).send(cid, wk)
	return sid
}

// sees waits for an update showing identity in the given state.
func (m *member) sees(identity string, state livekit.ParticipantInfo_State) *livekit.ParticipantInfo {
	m.t.Helper()
	var got *livekit.ParticipantInfo
	m.next(identity+" "+state.String(), func(r *livekit.SignalResponse) bool {
		for _, pi := range r.GetUpdate().GetParticipants() {
			if pi.Identity == identity && pi.State == state {
				got = pi
				return true
			}
		}
		return false
	})
	return got
}

// downsOf lists the subscriptions the participant receives.
func downsOf(p *Participant) map[string]Downtrack {
	p.subs.mu.Lock()
	defer p.subs.mu.Unlock()
	out := map[string]Downtrack{}
	for sid, s := range p.subs.bySID {
		if s.down != nil {
			out[sid] = s.down
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 2s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJoinSeesOthersAndLeaveIsSeen(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	if n := len(alice.join.OtherParticipants); n != 0 {
		t.Fatalf("first joiner sees %d others", n)
	}
	if alice.join.Room.Name != "r" || alice.join.ServerInfo.NodeId != "ND_test" {
		t.Fatalf("join response room %q node %q", alice.join.Room.Name, alice.join.ServerInfo.NodeId)
	}
	bob := h.join("r", "bob")
	if len(bob.join.OtherParticipants) != 1 || bob.join.OtherParticipants[0].Identity != "alice" {
		t.Fatalf("bob sees %v, want alice", bob.join.OtherParticipants)
	}
	alice.sees("bob", livekit.ParticipantInfo_JOINED)
	bob.activate()
	alice.sees("bob", livekit.ParticipantInfo_ACTIVE)

	bobP := bob.participant()
	bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{Reason: livekit.DisconnectReason_CLIENT_INITIATED}}})
	gone := alice.sees("bob", livekit.ParticipantInfo_DISCONNECTED)
	if gone.DisconnectReason != livekit.DisconnectReason_CLIENT_INITIATED {
		t.Errorf("bob left with %v", gone.DisconnectReason)
	}
	bob.ended()
	if h.m.Room("r").Participant("bob") != nil {
		t.Error("bob still in the room after leaving")
	}
	// The session ends before the transports are torn down, so wait for them.
	eventually(t, "bob's connection closed after leaving", func() bool {
		return bobP.conns.subscriber().(*fakeConn).isClosed()
	})
}

func TestRoomClosesAfterLastLeaves(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	alice.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	alice.ended()
	eventually(t, "room closed after its departure timeout", func() bool { return h.m.Room("r") == nil })
}

func TestRoomCapRefusesExtraJoin(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxParticipants = 2 })
	h.join("r", "alice")
	h.join("r", "bob")
	_, err := h.tryJoin("r", "carol")
	var je *JoinError
	if !errors.As(err, &je) || je.Status != http.StatusForbidden || !strings.Contains(je.Msg, "full") {
		t.Fatalf("third join: %v, want a 'full' refusal", err)
	}
	// A hidden participant (a recorder, an admin) does not count, and the same identity may
	// rejoin (the newer session replaces the older).
	h.join("r", "rec", withGrant(func(g *lkauth.VideoGrant) { g.Hidden = true }))
	h.join("r", "bob")
	// A room made with a lower cap keeps it; a higher one is held to the operator's.
	if _, err := h.m.CreateRoom(&livekit.CreateRoomRequest{Name: "small", MaxParticipants: 1}); err != nil {
		t.Fatal(err)
	}
	h.join("small", "alice")
	if _, err := h.tryJoin("small", "bob"); err == nil {
		t.Fatal("second join to a room capped at 1 succeeded")
	}
	big, _ := h.m.CreateRoom(&livekit.CreateRoomRequest{Name: "big", MaxParticipants: 10})
	if got := big.Info().MaxParticipants; got != 2 {
		t.Fatalf("room asked for 10 got cap %d, want the operator's 2", got)
	}
}

func TestDuplicateIdentityReplacesOlderSession(t *testing.T) {
	h := newHarness(t, nil)
	first := h.join("r", "alice")
	h.join("r", "alice")
	if l := first.ended(); l == nil || l.Reason != livekit.DisconnectReason_DUPLICATE_IDENTITY {
		t.Fatalf("older session ended with %v, want DUPLICATE_IDENTITY", l)
	}
}

func TestPublishPermissions(t *testing.T) {
	h := newHarness(t, nil)
	no := false
	viewer := h.join("r", "viewer", withGrant(func(g *lkauth.VideoGrant) { g.CanPublish = &no }))
	viewer.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: "c", Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE}}})
	r := viewer.next("refusal", func(r *livekit.SignalResponse) bool { return r.GetRequestResponse() != nil })
	if r.GetRequestResponse().Reason != livekit.RequestResponse_NOT_ALLOWED {
		t.Fatalf("viewer publishing: %v", r.GetRequestResponse())
	}
	micOnly := h.join("r", "mic", withGrant(func(g *lkauth.VideoGrant) {
		g.CanPublishSources = []string{"microphone"}
	}))
	micOnly.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: "cam", Type: livekit.TrackType_VIDEO, Source: livekit.TrackSource_CAMERA}}})
	r = micOnly.next("refusal", func(r *livekit.SignalResponse) bool { return r.GetRequestResponse() != nil })
	if r.GetRequestResponse().Reason != livekit.RequestResponse_NOT_ALLOWED {
		t.Fatalf("camera from a microphone-only grant: %v", r.GetRequestResponse())
	}
	micOnly.publish("m", livekit.TrackType_AUDIO, livekit.TrackSource_MICROPHONE)
}

func TestMetadataPermissionAndLimit(t *testing.T) {
	h := newHarness(t, nil)
	yes := true
	a := h.join("r", "alice", withGrant(func(g *lkauth.VideoGrant) { g.CanUpdateOwnMetadata = &yes }))
	update := func(m *member, md string, attrs map[string]string) livekit.RequestResponse_Reason {
		m.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{
			Metadata: md, Attributes: attrs, RequestId: 7}}})
		return m.next("response", func(r *livekit.SignalResponse) bool { return r.GetRequestResponse().GetRequestId() == 7 }).
			GetRequestResponse().Reason
	}
	if got := update(a, "hello", nil); got != livekit.RequestResponse_OK {
		t.Fatalf("allowed update: %v", got)
	}
	if got := update(a, "", map[string]string{"k": strings.Repeat("x", 2000)}); got != livekit.RequestResponse_LIMIT_EXCEEDED {
		t.Fatalf("attributes over the limit: %v", got)
	}
	if a.participant().Info().Metadata != "hello" || a.participant().Info().Attributes["k"] != "" {
		t.Fatal("a refused update changed the participant")
	}
	b := h.join("r", "bob")
	if got := update(b, "x", nil); got != livekit.RequestResponse_NOT_ALLOWED {
		t.Fatalf("update without the grant: %v", got)
	}
	// Attributes in the join request count toward the same limit.
	_, err := h.tryJoin("r", "carol", func(jp *routing.JoinParams) {
		jp.Request.ParticipantAttributes = map[string]string{"big": strings.Repeat("y", 4096)}
	})
	var je *JoinError
	if !errors.As(err, &je) || je.Status != http.StatusBadRequest {
		t.Fatalf("join with attributes over the limit: %v", err)
	}
}

func TestAutoSubscribeAndExplicitSubscription(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	alice.activate()
	bob := h.join("r", "bob")
	bob.activate()
	carol := h.join("r", "carol", noAutoSubscribe)
	carol.activate()
	sid := alice.publish("cam", livekit.TrackType_VIDEO, livekit.TrackSource_CAMERA)
	eventually(t, "bob subscribed", func() bool { return downsOf(bob.participant())[sid] != nil })
	if len(downsOf(carol.participant())) != 0 {
		t.Fatal("carol (no auto-subscribe) was subscribed")
	}
	if len(downsOf(alice.participant())) != 0 {
		t.Fatal("alice was subscribed to her own track")
	}
	// A late joiner gets what is already published.
	dave := h.join("r", "dave")
	eventually(t, "dave subscribed on join", func() bool { return downsOf(dave.participant())[sid] != nil })

	carol.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{
		TrackSids: []string{"TR_missing"}, Subscribe: true}}})
	r := carol.next("not found", func(r *livekit.SignalResponse) bool { return r.GetSubscriptionResponse() != nil })
	if r.GetSubscriptionResponse().Err != livekit.SubscriptionError_SE_TRACK_NOTFOUND {
		t.Fatalf("unknown track: %v", r.GetSubscriptionResponse())
	}
	carol.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{
		TrackSids: []string{sid}, Subscribe: true}}})
	eventually(t, "carol subscribed on request", func() bool { return downsOf(carol.participant())[sid] != nil })
	// Settings reach the downtrack: disabling video pauses it.
	carol.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_TrackSetting{TrackSetting: &livekit.UpdateTrackSettings{
		TrackSids: []string{sid}, Disabled: true}}})
	eventually(t, "layer off", func() bool { return downsOf(carol.participant())[sid].(*fakeDown).desired() == layerOff })
	carol.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{Subscription: &livekit.UpdateSubscription{
		TrackSids: []string{sid}, Subscribe: false}}})
	eventually(t, "carol unsubscribed", func() bool { return len(downsOf(carol.participant())) == 0 })

	// Unpublishing (the publisher leaves) ends every subscription to the track.
	alice.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	eventually(t, "subscriptions gone with the track", func() bool {
		return len(downsOf(bob.participant())) == 0 && len(downsOf(dave.participant())) == 0
	})
}

func TestSubscriptionPermission(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	alice.activate()
	bob := h.join("r", "bob")
	bob.activate()
	carol := h.join("r", "carol")
	carol.activate()
	sid := alice.publish("mic", livekit.TrackType_AUDIO, livekit.TrackSource_MICROPHONE)
	eventually(t, "both subscribed", func() bool {
		return downsOf(bob.participant())[sid] != nil && downsOf(carol.participant())[sid] != nil
	})
	alice.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_SubscriptionPermission{SubscriptionPermission: &livekit.SubscriptionPermission{
		TrackPermissions: []*livekit.TrackPermission{{ParticipantIdentity: "bob", AllTracks: true}}}}})
	u := carol.next("permission revoked", func(r *livekit.SignalResponse) bool { return r.GetSubscriptionPermissionUpdate() != nil })
	if u.GetSubscriptionPermissionUpdate().Allowed || u.GetSubscriptionPermissionUpdate().TrackSid != sid {
		t.Fatalf("carol told %v", u.GetSubscriptionPermissionUpdate())
	}
	eventually(t, "carol unsubscribed", func() bool { return downsOf(carol.participant())[sid] == nil })
	if downsOf(bob.participant())[sid] == nil {
		t.Fatal("bob, still allowed, lost the track")
	}
	// Allowed again: auto-subscribers get it back.
	alice.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_SubscriptionPermission{SubscriptionPermission: &livekit.SubscriptionPermission{
		AllParticipants: true}}})
	eventually(t, "carol resubscribed", func() bool { return downsOf(carol.participant())[sid] != nil })
}

func TestHiddenParticipantIsNotShown(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	h.join("r", "rec", withGrant(func(g *lkauth.VideoGrant) { g.Hidden = true }))
	bob := h.join("r", "bob")
	for _, o := range bob.join.OtherParticipants {
		if o.Identity == "rec" {
			t.Fatal("hidden participant listed to a joiner")
		}
	}
	alice.sees("bob", livekit.ParticipantInfo_JOINED)
	if n := h.m.Room("r").Info().NumParticipants; n != 2 {
		t.Fatalf("room counts %d participants, want 2 visible", n)
	}
}

func TestResumeKeepsTheParticipant(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ResumeWindow = time.Second })
	alice := h.join("r", "alice")
	bob := h.join("r", "bob")
	bob.activate()
	sid := bob.join.Participant.Sid
	bob.sess.Close() // the websocket went away
	sess, err := h.m.StartSession(context.Background(), &routing.JoinParams{Room: "r", Grants: grantsFor("r", "bob"),
		Reconnect: true, ParticipantSID: sid, Request: &livekit.JoinRequest{}})
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	resumed := &member{t: t, h: h, room: "r", sess: sess, join: bob.join}
	resumed.next("reconnect response", func(r *livekit.SignalResponse) bool { return r.GetReconnect() != nil })
	if p := h.m.Room("r").Participant("bob"); p == nil || p.SID() != sid {
		t.Fatal("resumed participant is not the same session")
	}
	// Someone else cannot take over bob's session.
	if _, err := h.m.StartSession(context.Background(), &routing.JoinParams{Room: "r", Grants: grantsFor("r", "mallory"),
		Reconnect: true, ParticipantSID: sid, Request: &livekit.JoinRequest{}}); err == nil {
		t.Fatal("another identity resumed bob's session")
	}
	_ = alice
}

func TestAbandonedResumeRemovesTheParticipant(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	bob := h.join("r", "bob")
	bob.activate()
	bob.sess.Close()
	gone := alice.sees("bob", livekit.ParticipantInfo_DISCONNECTED)
	if gone.DisconnectReason != livekit.DisconnectReason_SIGNAL_CLOSE {
		t.Fatalf("bob removed with %v, want SIGNAL_CLOSE", gone.DisconnectReason)
	}
	// A client that drops before its media connects has nothing to resume: removed at once.
	carol := h.join("r", "carol")
	carol.sess.Close()
	gone = alice.sees("carol", livekit.ParticipantInfo_DISCONNECTED)
	if gone.DisconnectReason != livekit.DisconnectReason_JOIN_FAILURE {
		t.Fatalf("carol removed with %v, want JOIN_FAILURE", gone.DisconnectReason)
	}
}

func TestProtocolErrorClosesOnlyThatClient(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	bob := h.join("r", "bob")
	bob.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Offer{Offer: &livekit.SessionDescription{Type: "offer", Sdp: "garbage"}}})
	if l := bob.ended(); l == nil || l.Reason != livekit.DisconnectReason_STATE_MISMATCH {
		t.Fatalf("bob's session ended with %v, want STATE_MISMATCH", l)
	}
	alice.sees("bob", livekit.ParticipantInfo_DISCONNECTED)
	if h.m.Room("r").Participant("alice") == nil {
		t.Fatal("alice removed with bob")
	}
	// An aborted session (the websocket layer saw garbage) removes the participant at once.
	carol := h.join("r", "carol")
	carol.activate()
	carol.sess.Abort("malformed signal request")
	alice.sees("carol", livekit.ParticipantInfo_DISCONNECTED)
}

func TestDeleteRoomDisconnectsEveryone(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	alice.activate()
	bob := h.join("r", "bob")
	bob.activate()
	sid := alice.publish("mic", livekit.TrackType_AUDIO, livekit.TrackSource_MICROPHONE)
	eventually(t, "bob subscribed", func() bool { return downsOf(bob.participant())[sid] != nil })
	track := alice.participant().pubs.get(sid).media.(*fakeTrack)
	if err := h.m.DeleteRoom("r"); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{alice, bob} {
		if l := m.ended(); l == nil || l.Reason != livekit.DisconnectReason_ROOM_DELETED {
			t.Fatalf("%s ended with %v, want ROOM_DELETED", m.identity(), l)
		}
	}
	if h.m.Room("r") != nil {
		t.Fatal("deleted room still listed")
	}
	if !track.isClosed() || track.subscribers() != 0 {
		t.Fatal("published track not closed with the room")
	}
	for _, c := range h.media.all() {
		if !c.isClosed() {
			t.Fatal("a connection outlived the room")
		}
	}
	if err := h.m.DeleteRoom("r"); err == nil {
		t.Fatal("deleting a deleted room succeeded")
	}
}

func TestRemoveParticipantAndMute(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	alice.activate()
	bob := h.join("r", "bob")
	bob.activate()
	sid := bob.publish("mic", livekit.TrackType_AUDIO, livekit.TrackSource_MICROPHONE)
	r := h.m.Room("r")
	info, err := r.MuteTrack("bob", sid, true)
	if err != nil || !info.Muted {
		t.Fatalf("mute: %v %v", info, err)
	}
	bob.next("mute request", func(r *livekit.SignalResponse) bool { return r.GetMute().GetSid() == sid && r.GetMute().Muted })
	if _, err := r.MuteTrack("bob", sid, false); !errors.Is(err, ErrRemoteUnmute) {
		t.Fatalf("remote unmute without the setting: %v", err)
	}
	if err := r.RemoveParticipant("bob"); err != nil {
		t.Fatal(err)
	}
	if l := bob.ended(); l == nil || l.Reason != livekit.DisconnectReason_PARTICIPANT_REMOVED {
		t.Fatalf("bob ended with %v", l)
	}
	if err := r.RemoveParticipant("bob"); !errors.Is(err, ErrParticipantNotFound) {
		t.Fatalf("removing twice: %v", err)
	}
}

func TestCloseIsIdempotentFromAnyGoroutine(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	p := alice.participant()
	done := make(chan struct{})
	for range 8 {
		go func() {
			p.close(livekit.DisconnectReason_CLIENT_INITIATED, true)
			done <- struct{}{}
		}()
	}
	// And from its own request loop, at the same time.
	alice.sess.Send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}}) //nolint:errcheck
	for range 8 {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("close blocked")
		}
	}
	alice.ended()
}

func TestServerShutdownRefusesJoins(t *testing.T) {
	h := newHarness(t, nil)
	alice := h.join("r", "alice")
	h.m.Close()
	if l := alice.ended(); l == nil || l.Reason != livekit.DisconnectReason_SERVER_SHUTDOWN {
		t.Fatalf("alice ended with %v", l)
	}
	var je *JoinError
	if _, err := h.tryJoin("r", "bob"); !errors.As(err, &je) || je.Reason != livekit.DisconnectReason_SERVER_SHUTDOWN {
		t.Fatalf("join after shutdown: %v", err)
	}
}

// A room that closes after a new room of its name was made on this node leaves the name's claim
// to the new one.
func TestClosingRoomKeepsItsSuccessorsClaim(t *testing.T) {
	reg := routing.NewMemoryRegistry()
	h := &harness{t: t, media: &fakeMedia{}}
	h.m = NewManager(Config{NodeID: "ND_a", AutoCreate: true, EmptyTimeout: time.Minute, DepartureTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h.media, reg)
	t.Cleanup(h.m.Close)
	ctx := context.Background()
	if _, err := reg.Claim(ctx, "r", "ND_a"); err != nil {
		t.Fatal(err)
	}
	old := h.join("r", "alice")
	oldRoom := h.m.Room("r")
	// The old room is closing (marked closed) when a new join makes its successor.
	oldRoom.mu.Lock()
	oldRoom.closed = true
	oldRoom.mu.Unlock()
	h.join("r", "bob")
	if h.m.Room("r") == oldRoom {
		t.Fatal("no new room was made")
	}
	oldRoom.Participant("alice").close(livekit.DisconnectReason_ROOM_CLOSED, true)
	old.ended()
	h.m.roomClosed(oldRoom)
	if node, _ := reg.Claim(ctx, "r", "ND_b"); node != "ND_a" {
		t.Fatalf("the name's claim moved to %s while its new room runs here", node)
	}
}

// releaseHook runs a function while a room's claim is being released, as a join racing the close.
type releaseHook struct {
	*routing.MemoryRegistry
	during func()
}

func (r releaseHook) Release(ctx context.Context, room, nodeID string) error {
	if f := r.during; f != nil {
		f()
	}
	return r.MemoryRegistry.Release(ctx, room, nodeID)
}

// A join that makes the room anew while the old one releases its name keeps the name claimed by
// this node: no other node may then host a second copy of the meeting.
func TestJoinDuringReleaseKeepsTheClaim(t *testing.T) {
	mem := routing.NewMemoryRegistry()
	reg := releaseHook{MemoryRegistry: mem}
	h := &harness{t: t, media: &fakeMedia{}}
	h.m = NewManager(Config{NodeID: "ND_a", AutoCreate: true, EmptyTimeout: time.Minute, DepartureTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, h.media, &reg)
	t.Cleanup(h.m.Close)
	ctx := context.Background()
	if _, err := mem.Claim(ctx, "r", "ND_a"); err != nil {
		t.Fatal(err)
	}
	old := h.join("r", "alice")
	oldRoom := h.m.Room("r")
	reg.during = func() {
		reg.during = nil
		h.join("r", "bob") // under the claim the closing room is about to release
	}
	oldRoom.Close(livekit.DisconnectReason_ROOM_DELETED)
	old.ended()
	if h.m.Room("r") == nil || h.m.Room("r") == oldRoom {
		t.Fatal("the join during the release made no new room")
	}
	if node, _ := mem.Claim(ctx, "r", "ND_b"); node != "ND_a" {
		t.Fatalf("another node could claim the name (%s) while its new room runs here", node)
	}
}
