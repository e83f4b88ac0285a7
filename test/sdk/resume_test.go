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
			bob := &client{t: t, got: map[string]*received{}, want: 100, data: make(chan lksdk.DataReceiveParams, 1), msgs: make(chan []byte, 1)}
			cb := lksdk.NewRoomCallback()
			cb.OnReconnected = func() { reconnected <- struct{}{} }
			cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
				r := bob.track(rp.Identity() + "/" + tr.Kind().String())
				go func() {
					for {
						pkt, _, err := tr.ReadRTP()
						if err != nil {
							return
						}
						r.add(pkt.SequenceNumber, pkt.SSRC)
					}
				}()
			}
			opts := []lksdk.ConnectOption{lksdk.WithAutoSubscribe(true), lksdk.WithDisableRegionDiscovery(),
				// The SDK gives up after 5 s by default; a loaded 2-core CI machine can need longer.
				lksdk.WithConnectTimeout(15 * time.Second),
				lksdk.WithICETransportPolicy(webrtc.ICETransportPolicyRelay)}
			if mode.singlePC {
				opts = append(opts, lksdk.WithSinglePeerConnection())
			}
			room, err := lksdk.ConnectToRoomWithToken("ws://"+proxy.Addr(), n.Token(t, "res", "bob"), cb, opts...)
			if err != nil {
				t.Fatal(err)
			}
			bob.room = room
			t.Cleanup(room.Disconnect)
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
