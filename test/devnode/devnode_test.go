// Package devnode tests what LiveKit's own pion-based tools (its CLI, server-sdk-go) meet when they
// join a node started with `hop serve --dev` on the same machine.
//
// The tests run themselves again inside a network namespace of their own (testkit.RunInNetNS),
// where the machine's addresses are loopback and the namespace's veth end: nothing reaches the
// real interfaces. They need root, iproute2 and nftables, and ffmpeg for the media.
package devnode_test

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

func TestMain(m *testing.M) {
	if os.Getenv("HOP_TEST_SDK_LOG") == "" {
		lksdk.SetLogger(logger.GetDiscardLogger())
	}
	os.Exit(m.Run())
}

// devNode starts a node with the settings `hop serve --dev` runs with (ports aside): media on
// loopback, no TURN.
func devNode(t *testing.T) *testkit.Node {
	t.Helper()
	dev := config.Default()
	dev.ApplyDev()
	if dev.TURN.Enabled {
		t.Fatal("dev mode enables TURN: this test is about joining without it")
	}
	return testkit.StartNode(t, func(c *config.Config) {
		c.BindAddress = dev.BindAddress
		c.RTC.BindAddress = dev.RTC.BindAddress
		c.RTC.IncludeLoopback = dev.RTC.IncludeLoopback
		c.RTC.AllowedPeers = dev.RTC.AllowedPeers
		c.RTC.AllowPrivatePeers = dev.RTC.AllowPrivatePeers
		c.RTC.AllowSameMachinePeers = dev.RTC.AllowSameMachinePeers
		c.TURN.Enabled = false
	})
}

// packets counts what a client receives from the other, by kind; done is closed once both reach
// want.
type packets struct {
	audio, video atomic.Int64
	want         int64
	done         chan struct{}
	once         sync.Once
}

func newPackets(want int64) *packets { return &packets{want: want, done: make(chan struct{})} }

func (p *packets) add(n *atomic.Int64) {
	n.Add(1)
	if p.audio.Load() >= p.want && p.video.Load() >= p.want {
		p.once.Do(func() { close(p.done) })
	}
}

func join(t *testing.T, n *testkit.Node, identity string, got *packets) *lksdk.Room {
	t.Helper()
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
		count := &got.audio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			count = &got.video
		}
		go func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				got.add(count)
			}
		}()
	}
	// What `lk` does with a dev server: the dev key, a websocket URL on localhost, no TURN.
	room, err := lksdk.ConnectToRoom("ws://"+n.Addr().String(), lksdk.ConnectInfo{
		APIKey:              config.DevAPIKey,
		APISecret:           config.DevAPISecret,
		RoomName:            "dev",
		ParticipantIdentity: identity,
	}, cb, lksdk.WithAutoSubscribe(true), lksdk.WithDisableRegionDiscovery(), lksdk.WithConnectTimeout(15*time.Second))
	if err != nil {
		t.Fatalf("%s: connect to the dev node: %v", identity, err)
	}
	t.Cleanup(room.Disconnect)
	return room
}

func publish(t *testing.T, room *lksdk.Room, path string, frame time.Duration, name string) {
	t.Helper()
	tr, err := lksdk.NewLocalFileTrack(path, lksdk.ReaderTrackWithFrameDuration(frame))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := room.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: name, VideoWidth: 640, VideoHeight: 360}); err != nil {
		t.Fatal(err)
	}
}

// Two server-sdk-go clients join a dev node without TURN and receive each other's audio and
// video: pion offers no loopback candidates, so the node must take this machine's other
// addresses as peers.
func TestSDKClientsJoinDevNodeWithoutTURN(t *testing.T) {
	if !testkit.RunInNetNS(t, 204) {
		return
	}
	n := devNode(t)
	m := testkit.MakeMedia(t)
	const want = 60 // over a second of each kind
	gotA, gotB := newPackets(want), newPackets(want)
	a := join(t, n, "alice", gotA)
	b := join(t, n, "bob", gotB)
	for _, r := range []*lksdk.Room{a, b} {
		publish(t, r, m.Opus, 20*time.Millisecond, "mic")
		publish(t, r, m.VP8[360], 33*time.Millisecond, "camera")
	}
	timeout := time.After(20 * time.Second)
	for _, got := range []*packets{gotA, gotB} {
		select {
		case <-got.done:
		case <-timeout:
			t.Fatalf("after 20 s alice got %d audio and %d video packets from bob, bob %d and %d from alice; want %d each",
				gotA.audio.Load(), gotA.video.Load(), gotB.audio.Load(), gotB.video.Load(), want)
		}
	}
	t.Logf("alice got %d audio and %d video packets, bob %d and %d", gotA.audio.Load(), gotA.video.Load(), gotB.audio.Load(), gotB.video.Load())
}
