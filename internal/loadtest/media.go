package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// Layer is one simulcast layer's size and bitrate.
type Layer struct {
	Width, Height int
	Bitrate       string // ffmpeg notation, e.g. "1700k"
}

// Layers by top resolution, low to high, as livekit-client publishes a camera.
var Layers = map[string][]Layer{
	"1080p": {{480, 270, "250k"}, {960, 540, "800k"}, {1920, 1080, "3000k"}},
	"720p":  {{320, 180, "150k"}, {640, 360, "500k"}, {1280, 720, "1700k"}},
	"360p":  {{320, 180, "150k"}, {640, 360, "500k"}},
}

// PrepareMedia encodes (once, cached in dir) 10 s of VP8 per layer and of Opus with ffmpeg.
func PrepareMedia(ctx context.Context, dir, resolution string) (video []string, audio string, err error) {
	layers, ok := Layers[resolution]
	if !ok {
		return nil, "", fmt.Errorf("resolution %q: want 1080p, 720p or 360p", resolution)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, "", err
	}
	run := func(out string, args ...string) error {
		if _, err := os.Stat(out); err == nil {
			return nil
		}
		tmp := out + ".tmp" + filepath.Ext(out)
		// #nosec G204 -- ffmpeg with arguments this program builds from its own media table
		cmd := exec.CommandContext(ctx, "ffmpeg", append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), tmp)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ffmpeg (needed to make load-test media): %w: %s", err, strings.TrimSpace(string(b)))
		}
		return os.Rename(tmp, out)
	}
	for _, l := range layers {
		out := filepath.Join(dir, fmt.Sprintf("vp8-%dx%d-%s.ivf", l.Width, l.Height, l.Bitrate))
		if err := run(out, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30:duration=10", l.Width, l.Height),
			"-c:v", "libvpx", "-b:v", l.Bitrate, "-deadline", "realtime", "-cpu-used", "8", "-g", "60",
			"-auto-alt-ref", "0", "-error-resilient", "1"); err != nil {
			return nil, "", err
		}
		video = append(video, out)
	}
	audio = filepath.Join(dir, "opus-48k.ogg")
	if err := run(audio, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
		"-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20", "-page_duration", "20000"); err != nil {
		return nil, "", err
	}
	return video, audio, nil
}

// loopProvider serves encoded frames from memory forever, as a live source would.
type loopProvider struct {
	frames [][]byte
	dur    time.Duration
	next   int
	level  uint8
}

func (p *loopProvider) NextSample(ctx context.Context) (media.Sample, error) {
	if err := ctx.Err(); err != nil {
		return media.Sample{}, io.EOF
	}
	f := p.frames[p.next]
	p.next = (p.next + 1) % len(p.frames)
	return media.Sample{Data: f, Duration: p.dur}, nil
}

func (p *loopProvider) OnBind() error            { return nil }
func (p *loopProvider) OnUnbind() error          { return nil }
func (p *loopProvider) Close() error             { return nil }
func (p *loopProvider) CurrentAudioLevel() uint8 { return p.level }

// loadIVF reads every frame of an IVF file.
func loadIVF(path string) (*loopProvider, error) {
	f, err := os.Open(path) // #nosec G304 -- a file this program made in its media directory
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, hdr, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := &loopProvider{dur: time.Second * time.Duration(hdr.TimebaseNumerator) / time.Duration(hdr.TimebaseDenominator)}
	if p.dur <= 0 || p.dur > time.Second {
		p.dur = time.Second / 30
	}
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		p.frames = append(p.frames, frame)
	}
	if len(p.frames) == 0 {
		return nil, fmt.Errorf("%s: no frames", path)
	}
	return p, nil
}

// loadOgg reads every Opus packet of an Ogg file made with 20 ms pages.
func loadOgg(path string) (*loopProvider, error) {
	f, err := os.Open(path) // #nosec G304 -- a file this program made in its media directory
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// A constant level of -30 dBov: a person talking, for the server's speaker detection.
	p := &loopProvider{dur: 20 * time.Millisecond, level: 30}
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(page) >= 8 && (string(page[:8]) == "OpusHead" || string(page[:8]) == "OpusTags") {
			continue
		}
		p.frames = append(p.frames, page)
	}
	if len(p.frames) == 0 {
		return nil, fmt.Errorf("%s: no packets", path)
	}
	return p, nil
}
