// Package browser drives real livekit-client participants in headless Chromium for Hop's tests.
//
// Run starts `node run.mjs` (beside this file), which launches Debian's Chromium once, opens one
// browser context per participant, joins them all to a room, lets media flow, and reports what each
// participant decoded and received. Its dependencies are installed by `make test`
// (`npm ci --prefix test/browser`).
package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Participant is one browser participant: its identity and the token it joins with, and how it
// joins. The zero options are the classic meeting participant: publishes camera and microphone,
// asks for the high layer of every remote video, no adaptiveStream, no dynacast.
type Participant struct {
	Identity string `json:"identity"`
	Token    string `json:"token"`
	// SubscribeOnly: publish neither camera nor microphone.
	SubscribeOnly bool `json:"-"`
	// AdaptiveStream is livekit-client's adaptiveStream (pixel density 1, no pause in background):
	// the size of the remote video element (TileWidth x TileHeight) chooses the layer the server
	// sends. Without it the page asks for the high layer of every remote video.
	AdaptiveStream bool `json:"adaptiveStream,omitempty"`
	// Dynacast is livekit-client's dynacast: the publisher stops encoding simulcast layers that
	// the server says nobody receives.
	Dynacast bool `json:"dynacast,omitempty"`
	// TileWidth x TileHeight is the CSS size of each remote video element (default 320x180).
	TileWidth  int `json:"tileWidth,omitempty"`
	TileHeight int `json:"tileHeight,omitempty"`
	// DisableDTX and DisableRED turn off Opus DTX and RED on the published microphone
	// (livekit-client enables both by default).
	DisableDTX bool `json:"-"`
	DisableRED bool `json:"-"`
	// TimelineMs > 0 (on any participant) puts the run in timeline mode: every participant joins
	// on its own, without waiting for the others, and samples its stats every SampleMs (default
	// 200) for TimelineMs (default: the spec's DurationMs) or until Handle.Stop; the samples
	// stream to Handle.Timeline as they are taken and end up in ParticipantReport.Timeline.
	TimelineMs int `json:"timelineMs,omitempty"`
	SampleMs   int `json:"sampleMs,omitempty"`
	// StartDelayMs delays this participant's join after its page has loaded (timeline mode).
	StartDelayMs int `json:"startDelayMs,omitempty"`
	// RawAudio captures the microphone without echo cancellation, noise suppression and gain
	// control, so that a test signal (a fake capture file's beeps) reaches the encoder unchanged.
	RawAudio bool `json:"rawAudio,omitempty"`
	// E2EEKey turns on livekit-client's end-to-end encryption with this shared key.
	E2EEKey string `json:"e2eeKey,omitempty"`
	// WaitStart makes this participant join only when Handle.Begin releases it (timeline mode);
	// its Chromium is already running then, so the join is not delayed by a browser start.
	WaitStart bool `json:"waitStart,omitempty"`
}

// wireParticipant adds the options whose zero value is not livekit-client's default.
type wireParticipant struct {
	Participant
	Publish *bool `json:"publish,omitempty"`
	DTX     *bool `json:"dtx,omitempty"`
	RED     *bool `json:"red,omitempty"`
}

// Spec says what to run. Zero values get run.mjs's defaults (8 s, 1280x720, 20 s connect timeout).
type Spec struct {
	// URL is the node's websocket URL, e.g. ws://127.0.0.1:7880.
	URL          string        `json:"url"`
	Participants []Participant `json:"participants"`
	// DurationMs bounds how long media flows after everyone has connected, waiting for every
	// remote video to be decoded at ExpectWidth x ExpectHeight, before the first sample; the second
	// sample follows 2 s later.
	DurationMs int `json:"durationMs,omitempty"`
	// ForceV0 asserts that the clients end on the /rtc (two PeerConnection) path: the page does
	// nothing special, the server is expected to refuse /rtc/v1 so that livekit-client falls back.
	// A client left on another path gets an error in its report.
	ForceV0 bool `json:"forceV0,omitempty"`
	// ClientV0 makes the clients themselves go straight to /rtc (livekit-client's
	// singlePeerConnection: false), whatever the server does with /rtc/v1.
	ClientV0 bool `json:"-"`
	// ExpectWidth and ExpectHeight are the camera capture size, and the size every receiver is
	// expected to decode (RemoteVideo.ExpectedSize).
	ExpectWidth  int `json:"expectWidth,omitempty"`
	ExpectHeight int `json:"expectHeight,omitempty"`
	// ConnectTimeoutMs bounds each participant's connect (default 20000).
	ConnectTimeoutMs int `json:"connectTimeoutMs,omitempty"`
	// LogLevel is livekit-client's log level in the pages (trace, debug, info, warn, error).
	LogLevel string `json:"logLevel,omitempty"`
	// Verbose echoes every page console line to run.mjs's stderr (returned in errors).
	Verbose bool `json:"verbose,omitempty"`
	// StartTimeoutMs bounds how long a WaitStart participant waits for Handle.Begin (default
	// 120000).
	StartTimeoutMs int `json:"startTimeoutMs,omitempty"`
	// ChromiumArgs are added to Chromium's command line (e.g. trusting a test certificate).
	ChromiumArgs []string `json:"chromiumArgs,omitempty"`
	// TURNTransports, when set, keeps only the TURN servers the node offers over these
	// transports ("udp", "tcp", "tls"): one relay path made the only one without a firewall rule.
	TURNTransports []string `json:"turnTransports,omitempty"`
}

// Result is run.mjs's report.
type Result struct {
	OK           bool                `json:"ok"` // everyone connected and no participant reported an error
	URL          string              `json:"url"`
	Chromium     string              `json:"chromium"`
	ElapsedMs    int                 `json:"elapsedMs"`
	Participants []ParticipantReport `json:"participants"`
}

// ParticipantReport is what one browser participant saw.
type ParticipantReport struct {
	Identity  string `json:"identity"`
	Connected bool   `json:"connected"`
	State     string `json:"state"` // livekit-client's ConnectionState at the end
	ConnectMs int    `json:"connectMs"`
	// SignalPath is the path of the last websocket that opened: "/rtc/v1" or "/rtc".
	SignalPath    string          `json:"signalPath"`
	SignalSockets []SignalSocket  `json:"signalSockets"` // every websocket the page opened, in order
	SID           string          `json:"sid"`
	ServerInfo    json.RawMessage `json:"serverInfo"`
	Local         *LocalReport    `json:"local"`
	Remotes       []RemoteReport  `json:"remotes"`
	// PeerConnections describes each PeerConnection the client made (one on /rtc/v1, publisher and
	// subscriber on /rtc): states, what the server's SDP offered, and the selected ICE pair.
	PeerConnections []PeerConnection `json:"peerConnections"`
	DataReceived    []DataMessage    `json:"dataReceived"`
	// Events are livekit-client's room events the page saw (Date.now() times).
	Events []Event `json:"events"`
	// Timeline holds the samples of a timeline run (Participant.TimelineMs), oldest first.
	Timeline []Sample `json:"-"`
	Errors   []string `json:"errors"`
	Console  []string `json:"console"` // console errors and warnings (tokens redacted)
}

// PeerConnection describes one RTCPeerConnection at the end of the run. The Remote* lists come
// from the server's SDP, each entry prefixed by its media kind ("video nack pli", "audio opus/48000/2").
type PeerConnection struct {
	ConnectionState    string   `json:"connectionState"`
	IceConnectionState string   `json:"iceConnectionState"`
	RemoteFeedback     []string `json:"remoteFeedback"`
	RemoteExtensions   []string `json:"remoteExtensions"`
	RemoteCodecs       []string `json:"remoteCodecs"`
	// RemoteCodecOrder is, per m-section of the server's SDP, its codecs in preference order
	// ("audio opus/48000/2,red/48000/2,…").
	RemoteCodecOrder []string       `json:"remoteCodecOrder"`
	RemoteDirections []string       `json:"remoteDirections"`
	SelectedPair     *CandidatePair `json:"selectedPair"`
	// CandidatePairs lists every pair ICE formed: "local -> remote: state [nominated]".
	CandidatePairs []string `json:"candidatePairs"`
	// IceServerURLs are the ICE servers the PeerConnection was given, before TURNTransports.
	IceServerURLs []string `json:"iceServerUrls"`
}

// CandidatePair is the selected ICE candidate pair of a PeerConnection.
type CandidatePair struct {
	Local string `json:"local"` // "host udp 127.0.0.1:50000"
	// LocalRelayProtocol is how a relay candidate reaches its TURN server: udp, tcp or tls.
	LocalRelayProtocol       string  `json:"localRelayProtocol,omitempty"`
	Remote                   string  `json:"remote"` // "host udp 127.0.0.1:7892"
	CurrentRoundTripTime     float64 `json:"currentRoundTripTime"`
	AvailableOutgoingBitrate float64 `json:"availableOutgoingBitrate"`
	AvailableIncomingBitrate float64 `json:"availableIncomingBitrate"`
	BytesSent                int64   `json:"bytesSent"`
	BytesReceived            int64   `json:"bytesReceived"`
}

// SignalSocket is one websocket the client opened.
type SignalSocket struct {
	Path      string `json:"path"`
	Opened    bool   `json:"opened"`
	Error     bool   `json:"error"`
	CloseCode int    `json:"closeCode"`
}

// LocalReport describes what a participant published (outbound-rtp stats per track).
type LocalReport struct {
	CameraPublished     bool             `json:"cameraPublished"`
	MicrophonePublished bool             `json:"microphonePublished"`
	Video               []OutboundStream `json:"video"` // one per simulcast layer
	Audio               []OutboundStream `json:"audio"`
	// AvailableOutgoingBitrate is the sender's bandwidth estimate (bits/s) on its selected
	// candidate pair, when the browser reports one.
	AvailableOutgoingBitrate float64 `json:"availableOutgoingBitrate"`
}

// OutboundStream is one outbound-rtp entry.
type OutboundStream struct {
	RID                      string  `json:"rid"`
	FrameWidth               int     `json:"frameWidth"`
	FrameHeight              int     `json:"frameHeight"`
	FramesEncoded            int     `json:"framesEncoded"`
	FramesSent               int     `json:"framesSent"`
	PacketsSent              int     `json:"packetsSent"`
	BytesSent                int64   `json:"bytesSent"`
	Active                   bool    `json:"active"`
	TargetBitrate            float64 `json:"targetBitrate"`
	FramesPerSecond          float64 `json:"framesPerSecond"`
	NackCount                int     `json:"nackCount"`
	PliCount                 int     `json:"pliCount"`
	RetransmittedPacketsSent int     `json:"retransmittedPacketsSent"`
	QualityLimitationReason  string  `json:"qualityLimitationReason"`
	EncoderImplementation    string  `json:"encoderImplementation"`
	Codec                    string  `json:"codec"` // timeline samples only: e.g. audio/red, video/VP8
}

// RemoteReport is what a participant received from one remote participant. Counters given as
// [2] arrays were read at two instants 2 s apart.
type RemoteReport struct {
	Identity        string      `json:"identity"`
	VideoPublished  bool        `json:"videoPublished"`
	VideoSubscribed bool        `json:"videoSubscribed"`
	AudioPublished  bool        `json:"audioPublished"`
	AudioSubscribed bool        `json:"audioSubscribed"`
	Video           RemoteVideo `json:"video"`
	Audio           RemoteAudio `json:"audio"`
}

// RemoteVideo describes the decoded camera video of a remote participant.
type RemoteVideo struct {
	Width            int     `json:"width"`  // <video>.videoWidth at the second instant
	Height           int     `json:"height"` // <video>.videoHeight
	ExpectedSize     bool    `json:"expectedSize"`
	FramesDecoded    [2]int  `json:"framesDecoded"`  // inbound-rtp framesDecoded
	PlaybackFrames   [2]int  `json:"playbackFrames"` // getVideoPlaybackQuality().totalVideoFrames
	FramesPerSecond  float64 `json:"framesPerSecond"`
	BytesReceived    int64   `json:"bytesReceived"`
	PacketsReceived  int     `json:"packetsReceived"`
	PacketsLost      int     `json:"packetsLost"`
	KeyFramesDecoded int     `json:"keyFramesDecoded"`
	NackCount        int     `json:"nackCount"`
	PliCount         int     `json:"pliCount"`
	FirCount         int     `json:"firCount"`
	Codec            string  `json:"codec"` // e.g. video/VP8
}

// Advancing reports whether more frames were decoded at the second instant than at the first.
func (v RemoteVideo) Advancing() bool { return v.FramesDecoded[1] > v.FramesDecoded[0] }

// RemoteAudio describes the received microphone audio of a remote participant.
type RemoteAudio struct {
	PacketsReceived      [2]int     `json:"packetsReceived"`
	TotalAudioEnergy     [2]float64 `json:"totalAudioEnergy"`
	AudioLevel           [2]float64 `json:"audioLevel"`
	ConcealedSamples     int64      `json:"concealedSamples"`
	TotalSamplesReceived int64      `json:"totalSamplesReceived"`
	Codec                string     `json:"codec"` // e.g. audio/opus
}

// Advancing reports whether packets kept arriving and carried sound between the two instants.
func (a RemoteAudio) Advancing() bool {
	return a.PacketsReceived[1] > a.PacketsReceived[0] && a.TotalAudioEnergy[1] > a.TotalAudioEnergy[0]
}

// DataMessage is one data packet a participant received.
type DataMessage struct {
	From    string `json:"from"`
	Topic   string `json:"topic"` // run.mjs's hello messages use "hop-test"
	Payload string `json:"payload"`
	Kind    string `json:"kind"`
}

// Remote returns the report about the remote participant with that identity, or nil.
func (p *ParticipantReport) Remote(identity string) *RemoteReport {
	for i := range p.Remotes {
		if p.Remotes[i].Identity == identity {
			return &p.Remotes[i]
		}
	}
	return nil
}

// Participant returns the report of the participant with that identity, or nil.
func (r *Result) Participant(identity string) *ParticipantReport {
	for i := range r.Participants {
		if r.Participants[i].Identity == identity {
			return &r.Participants[i]
		}
	}
	return nil
}

// Dir is the folder holding run.mjs, found from this source file's location so that any
// package's test can call Run.
func Dir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("browser: cannot locate the harness source")
	}
	return filepath.Dir(file), nil
}

// Run runs the harness and waits for its report. On a non-zero exit it returns an error holding
// run.mjs's stderr and, when run.mjs still printed its report (a participant that could not
// connect), that report too. ctx bounds the run; run.mjs bounds itself as well.
func Run(ctx context.Context, spec Spec) (*Result, error) {
	h, err := Start(ctx, spec, nil)
	if err != nil {
		return nil, err
	}
	return h.Wait()
}

// Handle is a harness run started by Start.
type Handle struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *lockedBuffer
	done   chan struct{}

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced whenever a line arrives
	timelines map[string][]Sample
	events    map[string][]Event
	report    []byte // the last line that is not a streamed sample or event
	junk      []string
	waitErr   error
	stdinDone bool
}

// Start starts the harness in the background and returns at once. wrap, when not nil, may change
// the command before it starts: testkit's NetNS.Wrap runs it (and so its Chromium) inside a
// network namespace. The run ends by itself (its participants' durations), with Stop, or when
// ctx ends (run.mjs gets SIGTERM, closes Chromium, and is killed 10 s later if still running).
// Wait collects the report.
func Start(ctx context.Context, spec Spec, wrap func(*exec.Cmd)) (*Handle, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	for _, dep := range []string{"playwright-core", "esbuild", "livekit-client"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", dep)); err != nil {
			return nil, fmt.Errorf("browser: %s is not installed in %s: run `make test` or `npm ci --prefix test/browser`", dep, filepath.Join(dir, "node_modules"))
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("browser: node is not on PATH: %w", err)
	}
	f := false
	wire := make([]wireParticipant, len(spec.Participants))
	for i, p := range spec.Participants {
		wire[i] = wireParticipant{Participant: p}
		if p.SubscribeOnly {
			wire[i].Publish = &f
		}
		if p.DisableDTX {
			wire[i].DTX = &f
		}
		if p.DisableRED {
			wire[i].RED = &f
		}
	}
	payload := struct {
		Spec
		Participants         []wireParticipant `json:"participants"`
		SinglePeerConnection *bool             `json:"singlePeerConnection,omitempty"`
		// Control: stdin closing ends a timeline run (the driver is gone).
		Control bool `json:"control"`
	}{Spec: spec, Participants: wire, Control: true}
	if spec.ClientV0 {
		payload.SinglePeerConnection = &f
	}
	in, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "run.mjs"))
	cmd.Dir = dir
	// SIGTERM lets run.mjs (playwright) close Chromium; WaitDelay kills what is left.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if wrap != nil {
		wrap(cmd)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	h := &Handle{
		cmd:       cmd,
		stdin:     stdin,
		stderr:    &lockedBuffer{},
		done:      make(chan struct{}),
		changed:   make(chan struct{}),
		timelines: map[string][]Sample{},
		events:    map[string][]Event{},
	}
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("browser: start run.mjs: %w", err)
	}
	// The spec is the first line; the pipe stays open for Begin and Stop.
	if _, err := stdin.Write(append(in, '\n')); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("browser: write spec: %w", err)
	}
	go h.read(stdout)
	return h, nil
}

// streamLine is a line run.mjs prints while a timeline run goes on.
type streamLine struct {
	Type     string          `json:"type"`
	Identity string          `json:"identity"`
	Sample   json.RawMessage `json:"sample"`
	Event    *Event          `json:"event"`
}

func (h *Handle) read(stdout io.Reader) {
	r := bufio.NewReaderSize(stdout, 1<<16)
	for {
		line, err := r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			h.line(line)
		}
		if err != nil {
			break
		}
	}
	werr := h.cmd.Wait()
	h.mu.Lock()
	h.waitErr = werr
	h.mu.Unlock()
	close(h.done)
	h.notify()
}

func (h *Handle) line(line []byte) {
	var sl streamLine
	isStream := json.Unmarshal(line, &sl) == nil && (sl.Type == "sample" || sl.Type == "event")
	h.mu.Lock()
	switch {
	case isStream && sl.Type == "sample":
		var s Sample
		if err := json.Unmarshal(sl.Sample, &s); err == nil {
			h.timelines[sl.Identity] = append(h.timelines[sl.Identity], s)
		} else {
			h.junk = append(h.junk, fmt.Sprintf("bad sample: %v", err))
		}
	case isStream && sl.Event != nil:
		h.events[sl.Identity] = append(h.events[sl.Identity], *sl.Event)
	default:
		h.report = append([]byte(nil), line...)
	}
	h.mu.Unlock()
	h.notify()
}

func (h *Handle) notify() {
	h.mu.Lock()
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// Begin releases a participant that waits for its start (Participant.WaitStart).
func (h *Handle) Begin(identity string) error {
	return h.command("start " + identity)
}

// Stop ends every participant's timeline now; run.mjs then reports and exits (collect it with
// Wait). A participant still waiting for Begin is reported with an error.
func (h *Handle) Stop() error {
	err := h.command("stop")
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stdinDone {
		h.stdinDone = true
		_ = h.stdin.Close()
	}
	return err
}

func (h *Handle) command(c string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stdinDone {
		return errors.New("browser: run already stopped")
	}
	if _, err := io.WriteString(h.stdin, c+"\n"); err != nil {
		return fmt.Errorf("browser: %s: %w", c, err)
	}
	return nil
}

// Timeline returns a copy of the samples participant identity has taken so far.
func (h *Handle) Timeline(identity string) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Sample(nil), h.timelines[identity]...)
}

// Events returns a copy of the events participant identity has streamed so far (livekit-client's
// room events, and run.mjs's "joining" just before it connects).
func (h *Handle) Events(identity string) []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events[identity]...)
}

// Done is closed when run.mjs has exited.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Stderr returns what run.mjs has written to stderr so far.
func (h *Handle) Stderr() string { return h.stderr.String() }

// ErrRunEnded is returned by WaitUntil when run.mjs exits before the condition holds.
var ErrRunEnded = errors.New("browser: run ended")

// WaitUntil returns nil as soon as cond holds; cond is evaluated now and again after each line
// run.mjs prints (every sample and event). It returns context.DeadlineExceeded after timeout,
// ctx's error when ctx ends, and ErrRunEnded when the run is over and cond still does not hold.
func (h *Handle) WaitUntil(ctx context.Context, timeout time.Duration, cond func() bool) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-h.done:
			if cond() {
				return nil
			}
			return ErrRunEnded
		default:
		}
		select {
		case <-ch:
		case <-timer.C:
			return context.DeadlineExceeded
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Wait waits for run.mjs to exit and returns its report, with each participant's streamed
// timeline in ParticipantReport.Timeline. On a non-zero exit it returns an error holding run.mjs's
// stderr and, when run.mjs still printed its report, that report too.
func (h *Handle) Wait() (*Result, error) {
	<-h.done
	h.mu.Lock()
	if !h.stdinDone {
		h.stdinDone = true
		_ = h.stdin.Close()
	}
	line, runErr := h.report, h.waitErr
	h.mu.Unlock()
	var res *Result
	if len(line) > 0 {
		var r Result
		if err := json.Unmarshal(line, &r); err != nil {
			if runErr == nil {
				return nil, fmt.Errorf("browser: cannot parse run.mjs output: %w\nlast line: %.2000s\nstderr: %s", err, line, h.Stderr())
			}
		} else {
			res = &r
			for i := range res.Participants {
				res.Participants[i].Timeline = h.Timeline(res.Participants[i].Identity)
			}
		}
	}
	if runErr != nil {
		return res, fmt.Errorf("browser: run.mjs failed: %w\n%s", runErr, strings.TrimSpace(h.Stderr()))
	}
	if res == nil {
		return nil, fmt.Errorf("browser: run.mjs printed no report\nstderr: %s", h.Stderr())
	}
	return res, nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
