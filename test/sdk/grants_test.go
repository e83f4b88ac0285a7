package sdk_test

import (
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/testkit"
)

// canSubscribe=false receives no media even when auto-subscribing; canPublishData=false cannot reach
// the others with data.
func TestSubscribeAndDataGrants(t *testing.T) {
	n := testkit.StartNode(t, nil)
	m := testkit.MakeMedia(t)
	f := false
	pub := connect(t, n, "grants", "pub", connectOpts{autoSubscribe: true}, 30)
	watcher := connect(t, n, "grants", "watcher", connectOpts{autoSubscribe: true}, 30)
	blind := connect(t, n, "grants", "blind", connectOpts{autoSubscribe: true,
		token: n.TokenWith(t, "grants", "blind", func(g *lkauth.VideoGrant) { g.CanSubscribe = &f })}, 30)
	mute := connect(t, n, "grants", "mute", connectOpts{autoSubscribe: true,
		token: n.TokenWith(t, "grants", "mute", func(g *lkauth.VideoGrant) { g.CanPublishData = &f })}, 30)

	publishFile(t, pub, m.Opus, 20*time.Millisecond, "mic")
	watcher.waitFor("pub", webrtc.RTPCodecTypeAudio, 15*time.Second)
	// By now the blind participant would have been subscribed too.
	if r := blind.track("pub/" + webrtc.RTPCodecTypeAudio.String()); r.count() != 0 {
		t.Fatalf("participant without canSubscribe received %d packets", r.count())
	}
	for _, rp := range blind.room.GetRemoteParticipants() {
		for _, p := range rp.TrackPublications() {
			if p.(*lksdk.RemoteTrackPublication).TrackRemote() != nil {
				t.Fatal("participant without canSubscribe has a subscribed track")
			}
		}
	}

	// Data from the participant without canPublishData is dropped; data from others flows.
	if err := mute.room.LocalParticipant.PublishDataPacket(lksdk.UserData([]byte("from mute")), lksdk.WithDataPublishReliable(true)); err != nil {
		t.Fatal(err)
	}
	if err := pub.room.LocalParticipant.PublishDataPacket(lksdk.UserData([]byte("from pub")), lksdk.WithDataPublishReliable(true)); err != nil {
		t.Fatal(err)
	}
	// Reliable data is ordered per sender but not across senders: wait for pub's message, then
	// allow mute's (sent first) a further moment to show up if it were forwarded.
	deadline := time.After(10 * time.Second)
	gotPub := false
	for !gotPub {
		select {
		case msg := <-watcher.msgs:
			if string(msg) == "from mute" {
				t.Fatal("data from a participant without canPublishData was forwarded")
			}
			gotPub = string(msg) == "from pub"
		case <-deadline:
			t.Fatal("data from pub never arrived")
		}
	}
	select {
	case msg := <-watcher.msgs:
		if string(msg) == "from mute" {
			t.Fatal("data from a participant without canPublishData was forwarded")
		}
	case <-time.After(300 * time.Millisecond):
	}
}
