package signal_test

import (
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/internal/testkit"
)

func addTrack(c *rawClient, cid string, typ livekit.TrackType, src livekit.TrackSource) *livekit.SignalResponse {
	c.t.Helper()
	c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_AddTrack{AddTrack: &livekit.AddTrackRequest{
		Cid: cid, Type: typ, Source: src, Name: cid}}})
	return c.next(5*time.Second, func(m *livekit.SignalResponse) bool {
		return m.GetTrackPublished().GetCid() == cid || m.GetRequestResponse().GetAddTrack().GetCid() == cid
	})
}

// The video grant decides what a participant may publish, and whether it may change its metadata.
func TestPublishAndMetadataGrants(t *testing.T) {
	n := testkit.StartNode(t, nil)
	f := false
	t.Run("canPublish false", func(t *testing.T) {
		c := dialRaw(t, n, n.TokenWith(t, "g", "viewer", func(g *lkauth.VideoGrant) { g.CanPublish = &f }))
		if p := c.join().GetParticipant().GetPermission(); p.CanPublish {
			t.Fatalf("permission sent to the client allows publishing: %v", p)
		}
		r := addTrack(c, "cam", livekit.TrackType_VIDEO, livekit.TrackSource_CAMERA)
		if r.GetRequestResponse().GetReason() != livekit.RequestResponse_NOT_ALLOWED {
			t.Fatalf("publish without canPublish: %v", r)
		}
	})
	t.Run("canPublishSources", func(t *testing.T) {
		c := dialRaw(t, n, n.TokenWith(t, "g", "speaker", func(g *lkauth.VideoGrant) {
			g.SetCanPublishSources([]livekit.TrackSource{livekit.TrackSource_MICROPHONE})
		}))
		c.join()
		if r := addTrack(c, "cam", livekit.TrackType_VIDEO, livekit.TrackSource_CAMERA); r.GetRequestResponse().GetReason() != livekit.RequestResponse_NOT_ALLOWED {
			t.Fatalf("camera with only microphone allowed: %v", r)
		}
		r := addTrack(c, "mic", livekit.TrackType_AUDIO, livekit.TrackSource_MICROPHONE)
		if sid := r.GetTrackPublished().GetTrack().GetSid(); len(sid) < 3 || sid[:3] != "TR_" {
			t.Fatalf("microphone refused: %v", r)
		}
	})
	t.Run("canUpdateOwnMetadata", func(t *testing.T) {
		tr := true
		c := dialRaw(t, n, n.TokenWith(t, "g", "editor", func(g *lkauth.VideoGrant) { g.CanUpdateOwnMetadata = &tr }))
		me := c.join().GetParticipant()
		watcher := dialRaw(t, n, n.Token(t, "g", "watcher"))
		watcher.join()
		c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_UpdateMetadata{UpdateMetadata: &livekit.UpdateParticipantMetadata{
			RequestId: 5, Metadata: `{"role":"chair"}`, Name: "Chủ tọa", Attributes: map[string]string{"dept": "IT"}}}})
		if r := c.next(5*time.Second, func(m *livekit.SignalResponse) bool { return m.GetRequestResponse().GetRequestId() == 5 }); r.GetRequestResponse().Reason != livekit.RequestResponse_OK {
			t.Fatalf("metadata update refused: %v", r)
		}
		watcher.next(5*time.Second, func(m *livekit.SignalResponse) bool {
			for _, p := range m.GetUpdate().GetParticipants() {
				if p.Sid == me.Sid && p.Metadata == `{"role":"chair"}` && p.Name == "Chủ tọa" && p.Attributes["dept"] == "IT" && p.Version > me.Version {
					return true
				}
			}
			return false
		})
	})
}

// A hidden participant (a recorder, say) is never shown to the others.
func TestHiddenParticipantIsInvisible(t *testing.T) {
	n := testkit.StartNode(t, nil)
	alice := dialRaw(t, n, n.Token(t, "h", "alice"))
	alice.join()
	ghost := dialRaw(t, n, n.TokenWith(t, "h", "recorder", func(g *lkauth.VideoGrant) { g.Hidden = true }))
	ghost.join()
	bob := dialRaw(t, n, n.Token(t, "h", "bob"))
	for _, p := range bob.join().GetOtherParticipants() {
		if p.Identity == "recorder" {
			t.Fatal("bob's JoinResponse lists the hidden participant")
		}
	}
	// Alice hears of bob but never of the recorder.
	alice.next(5*time.Second, func(m *livekit.SignalResponse) bool {
		for _, p := range m.GetUpdate().GetParticipants() {
			if p.Identity == "recorder" {
				t.Fatal("alice was told about the hidden participant")
			}
			if p.Identity == "bob" {
				return true
			}
		}
		return false
	})
}
