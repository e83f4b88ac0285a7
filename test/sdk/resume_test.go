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

// server-sdk-go never sends the protocol's pings. Its connection must not be taken for dead after
// the ping timeout (it was: cut every 15 s, the client resumed and the server restarted ICE), while
// the websocket-level keepalive still runs under it.
func TestClientWithoutPingsStaysConnected(t *testing.T) {
	n := testkit.StartNode(t, nil)
	trouble := make(chan string, 4)
	note := func(what string) func() {
		return func() {
			select {
			case trouble <- what:
			default:
			}
		}
	}
	c := connect(t, n, "quiet", "gopher", connectOpts{autoSubscribe: true, callbacks: func(cb *lksdk.RoomCallback) {
		cb.OnReconnecting = note("reconnecting")
		cb.OnDisconnected = note("disconnected")
	}}, 1)
	sid := c.room.LocalParticipant.SID()
	// The server's ping timeout is 15 s; watch for longer than that.
	select {
	case what := <-trouble:
		t.Fatalf("a client that sends no pings was %s", what)
	case <-time.After(18 * time.Second):
	}
	r := n.Rooms().Room("quiet")
	if r == nil || r.Participant("gopher") == nil || r.Participant("gopher").SID() != sid {
		t.Fatal("the server no longer has the client's original session")
	}
}
