// Package multinode tests a cluster of Hop nodes coordinated through a real redis-server, with
// real LiveKit SDK clients.
package multinode

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	goredis "github.com/redis/go-redis/v9"

	"github.com/hop-meet/hop/internal/config"
)

func TestMain(m *testing.M) {
	if os.Getenv("HOP_TEST_SDK_LOG") == "" {
		lksdk.SetLogger(logger.GetDiscardLogger())
	}
	os.Exit(m.Run())
}

// freePort returns a loopback port nothing listens on now (tcp or udp).
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// redisServer is a redis-server the test started on a loopback port, without persistence.
type redisServer struct {
	Addr string
	cmd  *exec.Cmd
	port int
	t    *testing.T
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatal("redis-server is not installed (make deps)")
	}
	r := &redisServer{port: freePort(t, "tcp"), t: t}
	r.Addr = "127.0.0.1:" + strconv.Itoa(r.port)
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) start() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			r.t.Fatal("redis-server did not answer")
		}
		time.Sleep(20 * time.Millisecond) // redis has no readiness event to wait on
	}
}

func (r *redisServer) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *redisServer) client(t *testing.T) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func token(t *testing.T, room, identity string) string {
	t.Helper()
	canUpdate := true
	tok, err := lkauth.NewAccessToken(config.DevAPIKey, config.DevAPISecret).SetIdentity(identity).SetName(identity).
		SetValidFor(time.Hour).SetVideoGrant(&lkauth.VideoGrant{RoomJoin: true, Room: room, CanUpdateOwnMetadata: &canUpdate}).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// peer is an SDK participant that publishes an endless Opus track and records when packets from
// each other participant arrive.
type peer struct {
	t        *testing.T
	identity string
	room     *lksdk.Room
	mu       sync.Mutex
	from     map[string]*arrivals
}

type arrivals struct {
	count atomic.Int64
	last  atomic.Int64 // unix nanoseconds
	ping  chan struct{}
}

func (p *peer) arrivalsFrom(identity string) *arrivals {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.from[identity]
	if a == nil {
		a = &arrivals{ping: make(chan struct{}, 1)}
		p.from[identity] = a
	}
	return a
}

// join connects identity to roomName through the node at url and publishes audio.
func join(t *testing.T, url, roomName, identity string) *peer {
	t.Helper()
	p := &peer{t: t, identity: identity, from: map[string]*arrivals{}}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		a := p.arrivalsFrom(rp.Identity())
		go func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				a.count.Add(1)
				a.last.Store(time.Now().UnixNano())
				select {
				case a.ping <- struct{}{}:
				default:
				}
			}
		}()
	}
	room, err := lksdk.ConnectToRoomWithToken(url, token(t, roomName, identity), cb,
		lksdk.WithAutoSubscribe(true),
		// pion clients offer no loopback candidates: media goes through the room node's TURN.
		lksdk.WithICETransportPolicy(webrtc.ICETransportPolicyRelay),
		lksdk.WithDisableRegionDiscovery(),
		// One PeerConnection (/rtc/v1), as livekit-client uses by default.
		lksdk.WithSinglePeerConnection(),
		lksdk.WithConnectTimeout(15*time.Second))
	if err != nil {
		t.Fatalf("%s: connect through %s: %v", identity, url, err)
	}
	p.room = room
	t.Cleanup(room.Disconnect)
	track, err := lksdk.NewLocalTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := room.LocalParticipant.PublishTrack(track, &lksdk.TrackPublicationOptions{Name: "mic"}); err != nil {
		t.Fatalf("%s: publish: %v", identity, err)
	}
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		silence := []byte{0xf8, 0xff, 0xfe} // an Opus frame of silence
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = track.WriteSample(media.Sample{Data: silence, Duration: 20 * time.Millisecond}, nil)
			}
		}
	}()
	return p
}

// waitMedia waits until p has received n packets from identity after since.
func (p *peer) waitMedia(identity string, since time.Time, n int, timeout time.Duration) time.Time {
	p.t.Helper()
	a := p.arrivalsFrom(identity)
	deadline := time.After(timeout)
	start := a.count.Load()
	for {
		if a.last.Load() > since.UnixNano() && a.count.Load()-start >= int64(n) {
			return time.Unix(0, a.last.Load())
		}
		select {
		case <-a.ping:
		case <-deadline:
			p.t.Fatalf("%s: %d packets from %s within %v of %v, want %d", p.identity, a.count.Load()-start, identity, timeout, since.Format("15:04:05.000"), n)
		}
	}
}

// newArrivals re-reads the arrivals of a participant (a new subscription after a rejoin counts
// into the same record).
func (p *peer) String() string { return fmt.Sprintf("peer %s", p.identity) }
