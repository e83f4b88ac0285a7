package sdk_test

import (
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/testkit"
)

// A participant who starts talking is reported as an active speaker within 500 ms, and everyone
// gets connection-quality ratings.
func TestActiveSpeakerAndConnectionQuality(t *testing.T) {
	n := testkit.StartNode(t, nil)
	m := testkit.MakeMedia(t)
	speakers := make(chan []lksdk.Participant, 16)
	quality := make(chan livekit.ConnectionQuality, 16)
	heard := make(chan time.Time, 1)
	bob := connect(t, n, "talk", "bob", connectOpts{autoSubscribe: true, onSubscribed: func(*lksdk.RemoteTrackPublication) {
		// pion reports a subscribed track on its first packet: alice's voice has reached bob.
		heard <- time.Now()
	}, callbacks: func(cb *lksdk.RoomCallback) {
		cb.OnActiveSpeakersChanged = func(ps []lksdk.Participant) { speakers <- ps }
		cb.OnConnectionQualityChanged = func(u *livekit.ConnectionQualityInfo, p lksdk.Participant) {
			if p.Identity() == "alice" {
				quality <- u.Quality
			}
		}
	}}, 1)
	_ = bob
	alice := connect(t, n, "talk", "alice", connectOpts{autoSubscribe: true}, 1)
	// server-sdk-go sends a fixed RFC 6464 level (-15 dBov) with file audio: alice talks from her
	// first packet.
	publishFile(t, alice, m.Opus, 20*time.Millisecond, "mic")
	var start time.Time
	select {
	case start = <-heard:
	case <-time.After(10 * time.Second):
		t.Fatal("bob never received alice's audio")
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ps := <-speakers:
			for _, p := range ps {
				if p.Identity() == "alice" {
					took := time.Since(start)
					t.Logf("alice reported speaking %v after her voice reached bob", took)
					if took > 500*time.Millisecond {
						t.Fatalf("active speaker reported after %v, want within 500 ms", took)
					}
					goto spoke
				}
			}
		case <-deadline:
			t.Fatal("alice was never reported as speaking")
		}
	}
spoke:
	select {
	case q := <-quality:
		if q != livekit.ConnectionQuality_EXCELLENT {
			t.Fatalf("alice's connection over loopback rated %v", q)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no connection quality rating for alice")
	}
}
