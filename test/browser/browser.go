// Package browser drives real livekit-client participants in headless Chromium for Hop's tests.
//
// Run starts `node run.mjs` (beside this file), which launches Debian's Chromium once, opens one
// browser context per participant, joins them all to a room, lets media flow, and reports what each
// participant decoded and received. Its dependencies are installed by `make test`
// (`npm ci --prefix test/browser`).
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Participant is one browser participant: its identity and the token it joins with.
type Participant struct {
	Identity string `json:"identity"`
	Token    string `json:"token"`
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
	Errors          []string         `json:"errors"`
	Console         []string         `json:"console"` // console errors and warnings (tokens redacted)
}

// PeerConnection describes one RTCPeerConnection at the end of the run. The Remote* lists come
// from the server's SDP, each entry prefixed by its media kind ("video nack pli", "audio opus/48000/2").
type PeerConnection struct {
	ConnectionState    string         `json:"connectionState"`
	IceConnectionState string         `json:"iceConnectionState"`
	RemoteFeedback     []string       `json:"remoteFeedback"`
	RemoteExtensions   []string       `json:"remoteExtensions"`
	RemoteCodecs       []string       `json:"remoteCodecs"`
	RemoteDirections   []string       `json:"remoteDirections"`
	SelectedPair       *CandidatePair `json:"selectedPair"`
}

// CandidatePair is the selected ICE candidate pair of a PeerConnection.
type CandidatePair struct {
	Local                    string  `json:"local"`  // "host udp 127.0.0.1:50000"
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

// Run runs the harness. On a non-zero exit it returns an error holding run.mjs's stderr and,
// when run.mjs still printed its report (a participant that could not connect), that report too.
// ctx bounds the run; run.mjs bounds itself as well.
func Run(ctx context.Context, spec Spec) (*Result, error) {
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
	payload := struct {
		Spec
		SinglePeerConnection *bool `json:"singlePeerConnection,omitempty"`
	}{Spec: spec}
	if spec.ClientV0 {
		f := false
		payload.SinglePeerConnection = &f
	}
	in, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "run.mjs"))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()

	var res *Result
	if line := lastLine(stdout.Bytes()); len(line) > 0 {
		var r Result
		if err := json.Unmarshal(line, &r); err != nil {
			if runErr == nil {
				return nil, fmt.Errorf("browser: cannot parse run.mjs output: %w\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
			}
		} else {
			res = &r
		}
	}
	if runErr != nil {
		return res, fmt.Errorf("browser: run.mjs failed: %w\n%s", runErr, strings.TrimSpace(stderr.String()))
	}
	if res == nil {
		return nil, fmt.Errorf("browser: run.mjs printed no report\nstderr: %s", stderr.String())
	}
	return res, nil
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}
