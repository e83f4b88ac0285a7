// Package testkit starts real Hop nodes and makes real media for integration tests.
package testkit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/node"
	"github.com/hop-meet/hop/signaling/auth"
)

// Node is a running node for a test.
type Node struct {
	*node.Node
	Config *config.Config
	// HTTPURL is http://host:port of the node.
	HTTPURL string
	// AdminURL is http://host:port of the node's admin listener (/metrics, /debug/pprof).
	AdminURL string
	stop     func()
}

// Stop shuts the node down as SIGTERM does and waits until it has; the test's end does too.
func (n *Node) Stop() { n.stop() }

// StartNode starts a development node on free ports; mutate may change the configuration first.
// The node is closed when the test ends.
func StartNode(t testing.TB, mutate func(*config.Config)) *Node {
	t.Helper()
	cfg := config.Default()
	cfg.ApplyDev()
	cfg.Port = 0
	cfg.AdminAddress = "127.0.0.1:0"
	// Every test client comes from loopback: tests that count on the limits set them.
	cfg.HTTP.RateLimit = config.RateLimits{}
	cfg.RTC.UDPPort = 0
	cfg.RTC.TCPPort = 0 // ICE-TCP off: tests use UDP on loopback
	cfg.RTC.BindAddress = "127.0.0.1"
	// Clients here are on the host's own namespace: its other addresses would be its real
	// interfaces', so media stays on loopback and TURN (RunInNetNS gives a test a machine of its own).
	cfg.RTC.AllowSameMachinePeers = false
	// Go SDK clients cannot offer loopback candidates, so they relay through the embedded TURN
	// server on loopback: all media stays on 127.0.0.1.
	cfg.TURN.Enabled = true
	cfg.TURN.BindAddress = "127.0.0.1"
	cfg.TURN.UDPPort = 0
	cfg.TURN.RelayIP = "127.0.0.1"
	cfg.Room.DepartureTimeout = 500 * time.Millisecond
	cfg.Room.EmptyTimeout = 5 * time.Second
	cfg.LogLevel = "warn"
	if lvl := os.Getenv("HOP_TEST_LOG"); lvl != "" {
		cfg.LogLevel = lvl
	}
	if mutate != nil {
		mutate(cfg)
	}
	level := slog.LevelWarn
	switch cfg.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	n, err := node.New(cfg, log)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.Serve(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	tn := &Node{Node: n, Config: cfg, HTTPURL: "http://" + n.Addr().String(), stop: stop}
	if a := n.AdminAddr(); a != nil {
		tn.AdminURL = "http://" + a.String()
	}
	return tn
}

// Token makes a join token for room and identity with the node's dev key.
func (n *Node) Token(t testing.TB, room, identity string) string {
	t.Helper()
	return DevToken(t, room, identity)
}

// DevToken makes a join token for room and identity with the development key, which every node
// StartNode makes accepts (for clients in a child process, which have no *Node).
func DevToken(t testing.TB, room, identity string) string {
	t.Helper()
	tok, err := auth.NewToken(config.DevAPIKey, config.DevAPISecret, room, identity, time.Hour, false, identity)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return tok
}

// TokenWith makes a join token whose video grant (already allowing roomJoin to room) edit changes.
func (n *Node) TokenWith(t testing.TB, room, identity string, edit func(*lkauth.VideoGrant)) string {
	t.Helper()
	g := &lkauth.VideoGrant{RoomJoin: true, Room: room}
	if edit != nil {
		edit(g)
	}
	tok, err := lkauth.NewAccessToken(config.DevAPIKey, config.DevAPISecret).SetIdentity(identity).
		SetName(identity).SetValidFor(time.Hour).SetVideoGrant(g).ToJWT()
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return tok
}

// Media is a set of encoded media files made by ffmpeg.
type Media struct {
	Dir string
	// Opus is an Ogg/Opus file (48 kHz, 20 ms frames, a tone).
	Opus string
	// VP8 maps a height (180, 360, 720) to an IVF file of VP8 at 30 fps.
	VP8 map[int]string
	// H264 is an Annex-B H.264 (baseline) 640x360 file.
	H264 string
	// VP9 is an IVF file of VP9 (profile 0) at 640x360.
	VP9 string
	// PCMU is a WAV file of G.711 µ-law at 8 kHz, as SIP room systems send.
	PCMU string
}

var (
	mediaOnce sync.Once
	media     *Media
	mediaErr  error
)

// MakeMedia encodes test media once per test binary (ffmpeg, installed by `make test`).
func MakeMedia(t testing.TB) *Media {
	t.Helper()
	mediaOnce.Do(func() { media, mediaErr = makeMedia() })
	if mediaErr != nil {
		t.Fatalf("make media with ffmpeg (installed by `make test`): %v", mediaErr)
	}
	return media
}

func makeMedia() (*Media, error) {
	dir, err := os.MkdirTemp("", "hop-media-")
	if err != nil {
		return nil, err
	}
	m := &Media{Dir: dir, VP8: map[int]string{}}
	const seconds = "12"
	run := func(args ...string) error {
		cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("ffmpeg %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	m.Opus = filepath.Join(dir, "tone.ogg")
	if err := run("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+seconds,
		"-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-page_duration", "20000", m.Opus); err != nil {
		return nil, err
	}
	for _, h := range []int{180, 360, 720} {
		w := h * 16 / 9
		f := filepath.Join(dir, fmt.Sprintf("vp8-%d.ivf", h))
		rate := map[int]string{180: "150k", 360: "500k", 720: "1500k"}[h]
		args := append([]string{"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30:duration=%s", w, h, seconds)},
			vp8Args(rate)...)
		if err := run(append(args, f)...); err != nil {
			return nil, err
		}
		m.VP8[h] = f
	}
	m.H264 = filepath.Join(dir, "h264-360.h264")
	if err := run("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration="+seconds,
		"-c:v", "libx264", "-profile:v", "baseline", "-level", "3.1", "-pix_fmt", "yuv420p",
		"-bf", "0", "-g", "30", "-tune", "zerolatency", "-b:v", "600k", "-bsf:v", "h264_mp4toannexb", m.H264); err != nil {
		return nil, err
	}
	m.VP9 = filepath.Join(dir, "vp9-360.ivf")
	if err := run("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration="+seconds,
		"-c:v", "libvpx-vp9", "-b:v", "500k", "-deadline", "realtime", "-cpu-used", "8", "-g", "30",
		"-row-mt", "1", m.VP9); err != nil {
		return nil, err
	}
	m.PCMU = filepath.Join(dir, "tone-pcmu.wav")
	if err := run("-f", "lavfi", "-i", "sine=frequency=660:sample_rate=8000:duration="+seconds,
		"-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1", m.PCMU); err != nil {
		return nil, err
	}
	return m, nil
}

// vp8Args are the encoder settings of testkit's VP8 files: real-time, a keyframe every second (so
// that a recording starting late has a picture within one), no alt-ref frames.
func vp8Args(rate string) []string {
	return []string{"-c:v", "libvpx", "-b:v", rate, "-deadline", "realtime", "-cpu-used", "8", "-g", "30",
		"-auto-alt-ref", "0"}
}

// EncodeVP8 encodes a lavfi video source (such as "color=c=red:s=1280x720:r=30:d=20") to an IVF
// file of VP8 in dir, as MakeMedia encodes its own: a clip whose picture a test can recognise.
func EncodeVP8(t testing.TB, dir, name, source, rate string) string {
	t.Helper()
	f := filepath.Join(dir, name+".ivf")
	args := append([]string{"-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source}, vp8Args(rate)...)
	if out, err := exec.Command("ffmpeg", append(args, f)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg -i %s: %v: %s", source, err, out)
	}
	return f
}

// WaitGoroutines waits until the number of goroutines is at most baseline+slack, and fails the test
// with a dump of the survivors if it does not get there within timeout. Goroutines end
// asynchronously after close, so this polls rather than sleeping for a fixed time.
func WaitGoroutines(t testing.TB, baseline, slack int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline+slack {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines did not return to baseline: %d now, baseline %d (+%d)\n%s", n, baseline, slack, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
