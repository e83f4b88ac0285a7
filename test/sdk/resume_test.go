package sdk_test

import (
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/testkit"
)

// When a participant's signalling connection drops briefly, the client resumes its session: same
// participant, media keeps flowing, no full rejoin.
func TestResumeAfterSignalLoss(t *testing.T) {
	for _, mode := range signallingModes {
		t.Run(mode.name, func(t *testing.T) {
			n := testkit.StartNode(t, nil)
			m := testkit.MakeMedia(t)
			proxy := testkit.NewProxy(t, n.Addr().String())

			alice := connect(t, n, "res", "alice", connectOpts{autoSubscribe: true, singlePC: mode.singlePC}, 1)
			publishFile(t, alice, m.Opus, 20*time.Millisecond, "mic")

			reconnected := make(chan struct{}, 1)
			bob := connect(t, n, "res", "bob", connectOpts{autoSubscribe: true, singlePC: mode.singlePC,
				url: "ws://" + proxy.Addr(),
				callbacks: func(cb *lksdk.RoomCallback) {
					cb.OnReconnected = func() {
						select {
						case reconnected <- struct{}{}:
						default:
						}
					}
				}}, 100)
			room := bob.room
			sid := room.LocalParticipant.SID()
			bob.waitFor("alice", webrtc.RTPCodecTypeAudio, 10*time.Second)

			proxy.Cut()
			select {
			case <-reconnected:
			case <-time.After(15 * time.Second):
				t.Fatal("bob did not reconnect after the signalling connection dropped")
			}
			if got := room.LocalParticipant.SID(); got != sid {
				t.Fatalf("bob rejoined as %s instead of resuming %s", got, sid)
			}
			r := n.Rooms().Room("res")
			if r == nil || r.Participant("bob") == nil || r.Participant("bob").SID() != sid {
				t.Fatal("server does not have bob's original session")
			}
			// Media keeps arriving after the resume.
			got := bob.track("alice/" + webrtc.RTPCodecTypeAudio.String())
			got.waitCount(t, got.count()+50, 5*time.Second)
		})
	}
}
