// Package loadtest drives a LiveKit-protocol server (Hop, or any LiveKit server) with real clients:
// publishers sending simulcast VP8 and Opus made by ffmpeg, and subscribers that measure what they
// receive. `hop loadtest` is its command line; `make bench` runs it against a node.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
)

// Options mirror LiveKit's `lk load-test`.
type Options struct {
	URL, APIKey, APISecret string
	// URLs, when given, replace URL: clients take them in turn, as a load balancer in front of a
	// cluster would spread them (each room's participants reach it through different nodes).
	URLs []string
	Room string
	// Rooms runs that many rooms at once, named Room-1…Room-N, each with the publishers and
	// subscribers below (0 or 1: the one room named Room).
	Rooms int
	// IDPrefix starts every participant identity, so that several runs can share a room (an
	// identity that joins twice replaces the first).
	IDPrefix        string
	VideoPublishers int
	AudioPublishers int
	Subscribers     int
	Duration        time.Duration
	// Resolution of the published camera: 1080p, 720p or 360p.
	Resolution string
	// Simulcast publishes every layer (else only the top one).
	Simulcast bool
	// MediaDir caches the encoded media.
	MediaDir string
	// JoinRate is how many clients join per second (0: all at once).
	JoinRate float64
	// Relay makes clients use only TURN relays (for a server on this machine's loopback).
	Relay bool
	// SinglePC uses one PeerConnection per client (LiveKit's /rtc/v1 mode).
	SinglePC bool
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// TrackReport is what one subscriber received on one track.
type TrackReport struct {
	Publisher string
	Kind      string
	Codec     string
	Packets   int
	// Lost counts sequence numbers never received (after retransmissions).
	Lost     int
	Bytes    int64
	JitterMs float64
}

// SubscriberReport sums one subscriber's tracks.
type SubscriberReport struct {
	Identity string
	Room     string `json:",omitempty"`
	Tracks   []TrackReport
	// Kbps is the received bitrate over the run.
	Kbps     float64
	LossPct  float64
	JitterMs float64 // worst track
}

// Report is the outcome of a run.
type Report struct {
	Duration          time.Duration
	Publishers        int
	Subscribers       []SubscriberReport
	ExpectedTracks    int // per subscriber
	TotalKbps         float64
	TotalLossPct      float64
	MaxJitterMs       float64
	SubscribedTracks  int
	ConnectFailures   int
	FirstConnectError string
	// Rooms has each room's figures when the run had several.
	Rooms []RoomReport `json:",omitempty"`
}

func (o *Options) logf(format string, a ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, format+"\n", a...)
	}
}

func (o *Options) token(room, identity string, publish bool) (string, error) {
	g := &lkauth.VideoGrant{RoomJoin: true, Room: room}
	g.SetCanPublish(publish)
	return lkauth.NewAccessToken(o.APIKey, o.APISecret).SetIdentity(identity).SetValidFor(o.Duration + time.Hour).SetVideoGrant(g).ToJWT()
}

func (o *Options) connectOptions(autoSubscribe bool) []lksdk.ConnectOption {
	opts := []lksdk.ConnectOption{lksdk.WithAutoSubscribe(autoSubscribe), lksdk.WithDisableRegionDiscovery(),
		lksdk.WithConnectTimeout(30 * time.Second)}
	if o.Relay {
		opts = append(opts, lksdk.WithICETransportPolicy(webrtc.ICETransportPolicyRelay))
	}
	if o.SinglePC {
		opts = append(opts, lksdk.WithSinglePeerConnection())
	}
	return opts
}

// Run joins, room by room, the publishers then the subscribers, lets media flow for the duration
// and reports.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.VideoPublishers+o.AudioPublishers == 0 && o.Subscribers == 0 {
		return nil, errors.New("nothing to do: give publishers and/or subscribers")
	}
	if o.Room == "" {
		o.Room = "load-test"
	}
	if o.Resolution == "" {
		o.Resolution = "720p"
	}
	lksdk.SetLogger(logger.GetDiscardLogger())
	videoFiles, audioFile, err := PrepareMedia(ctx, o.MediaDir, o.Resolution)
	if err != nil {
		return nil, err
	}
	layers := Layers[o.Resolution]

	var conns []*lksdk.Room
	defer func() {
		for _, r := range conns {
			r.Disconnect()
		}
	}()
	pace := func() {
		if o.JoinRate > 0 {
			time.Sleep(time.Duration(float64(time.Second) / o.JoinRate))
		}
	}

	pubs := o.VideoPublishers + o.AudioPublishers
	report := &Report{Publishers: pubs * len(o.roomNames()), ExpectedTracks: o.VideoPublishers*2 + o.AudioPublishers}
	urls := o.urlTurns()
	var subs []*subscriber
	// Room by room, publishers first: each room is placed when its first publisher joins.
	for _, name := range o.roomNames() {
		prefix := o.IDPrefix
		if o.Rooms > 1 {
			prefix = name + "-" + prefix
		}
		// Publishers: video ones publish a camera (and a microphone), audio ones a microphone.
		for i := 0; i < pubs; i++ {
			identity := fmt.Sprintf("%spub-%d", prefix, i)
			tok, err := o.token(name, identity, true)
			if err != nil {
				return nil, err
			}
			room, err := lksdk.ConnectToRoomWithToken(urls(), tok, lksdk.NewRoomCallback(), o.connectOptions(false)...)
			if err != nil {
				return nil, fmt.Errorf("publisher %s: %w", identity, err)
			}
			conns = append(conns, room)
			if i < o.VideoPublishers {
				if err := publishCamera(room, videoFiles, layers, o.Simulcast); err != nil {
					return nil, fmt.Errorf("publisher %s: %w", identity, err)
				}
			}
			if err := publishMic(room, audioFile); err != nil {
				return nil, fmt.Errorf("publisher %s: %w", identity, err)
			}
			o.logf("publisher %s joined", identity)
			pace()
		}
		for i := 0; i < o.Subscribers; i++ {
			identity := fmt.Sprintf("%ssub-%d", prefix, i)
			s := &subscriber{identity: identity, room: name, tracks: map[string]*trackStats{}}
			subs = append(subs, s)
			tok, err := o.token(name, identity, false)
			if err != nil {
				return nil, err
			}
			cb := lksdk.NewRoomCallback()
			cb.OnTrackSubscribed = s.onTrack
			room, err := lksdk.ConnectToRoomWithToken(urls(), tok, cb, o.connectOptions(true)...)
			if err != nil {
				s.failed = true
				report.ConnectFailures++
				if report.FirstConnectError == "" {
					report.FirstConnectError = err.Error()
				}
				o.logf("subscriber %s failed: %v", identity, err)
				continue
			}
			conns = append(conns, room)
			o.logf("subscriber %s joined", identity)
			pace()
		}
	}

	o.logf("media flowing for %v", o.Duration)
	start := time.Now()
	select {
	case <-time.After(o.Duration):
	case <-ctx.Done():
	}
	report.Duration = time.Since(start)
	for _, r := range conns {
		r.Disconnect()
	}
	conns = nil
	report.sum(subs)
	if o.Rooms > 1 {
		report.Rooms = roomReports(o.roomNames(), subs, report.Duration, report.ExpectedTracks)
	}
	return report, nil
}

// sum fills the run's totals from its subscribers (those that connected).
func (report *Report) sum(subs []*subscriber) {
	var totalExpected, totalLost int
	for _, s := range subs {
		if s.failed {
			continue
		}
		sr := s.report(report.Duration)
		report.Subscribers = append(report.Subscribers, sr)
		report.TotalKbps += sr.Kbps
		report.SubscribedTracks += len(sr.Tracks)
		for _, t := range sr.Tracks {
			totalExpected += t.Packets + t.Lost
			totalLost += t.Lost
		}
		report.MaxJitterMs = math.Max(report.MaxJitterMs, sr.JitterMs)
	}
	if totalExpected > 0 {
		report.TotalLossPct = 100 * float64(totalLost) / float64(totalExpected)
	}
}

func publishCamera(room *lksdk.Room, files []string, layers []Layer, simulcast bool) error {
	qualities := []livekit.VideoQuality{livekit.VideoQuality_LOW, livekit.VideoQuality_MEDIUM, livekit.VideoQuality_HIGH}
	top := layers[len(layers)-1]
	if !simulcast {
		p, err := loadIVF(files[len(files)-1])
		if err != nil {
			return err
		}
		tr, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000})
		if err != nil {
			return err
		}
		if err := tr.StartWrite(p, nil); err != nil {
			return err
		}
		_, err = room.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: "camera", Source: livekit.TrackSource_CAMERA,
			VideoWidth: top.Width, VideoHeight: top.Height})
		return err
	}
	var tracks []*lksdk.LocalTrack
	for i, f := range files {
		p, err := loadIVF(f)
		if err != nil {
			return err
		}
		q := qualities[i] // two layers are q and h, as livekit-client publishes them
		tr, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
			lksdk.WithSimulcast("camera", &livekit.VideoLayer{Quality: q, Width: uint32(layers[i].Width), Height: uint32(layers[i].Height)}))
		if err != nil {
			return err
		}
		if err := tr.StartWrite(p, nil); err != nil {
			return err
		}
		tracks = append(tracks, tr)
	}
	_, err := room.LocalParticipant.PublishSimulcastTrack(tracks, &lksdk.TrackPublicationOptions{Name: "camera",
		Source: livekit.TrackSource_CAMERA, VideoWidth: top.Width, VideoHeight: top.Height})
	return err
}

func publishMic(room *lksdk.Room, file string) error {
	p, err := loadOgg(file)
	if err != nil {
		return err
	}
	tr, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if err != nil {
		return err
	}
	if err := tr.StartWrite(p, nil); err != nil {
		return err
	}
	_, err = room.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: "microphone", Source: livekit.TrackSource_MICROPHONE})
	return err
}

// subscriber records what one client receives.
type subscriber struct {
	identity string
	room     string
	failed   bool // never connected
	mu       sync.Mutex
	tracks   map[string]*trackStats
}

type trackStats struct {
	publisher, kind, codec string
	clock                  float64
	mu                     sync.Mutex
	packets                int
	bytes                  int64
	started                bool
	baseSeq, maxSeq        int64 // extended
	lastSeq                uint16
	seen                   [1024]int64 // extended seq+1 per slot, for duplicates
	jitter                 float64     // seconds
	lastTransit            float64
}

func (s *subscriber) onTrack(tr *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	st := &trackStats{publisher: rp.Identity(), kind: tr.Kind().String(), codec: tr.Codec().MimeType, clock: float64(tr.Codec().ClockRate)}
	s.mu.Lock()
	s.tracks[pub.SID()] = st
	s.mu.Unlock()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, _, err := tr.Read(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			seq := uint16(buf[2])<<8 | uint16(buf[3])
			ts := uint32(buf[4])<<24 | uint32(buf[5])<<16 | uint32(buf[6])<<8 | uint32(buf[7])
			st.add(seq, ts, n, time.Now())
		}
	}()
}

func (t *trackStats) add(seq uint16, ts uint32, size int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ext int64
	if !t.started {
		t.started = true
		ext = int64(seq)
		t.baseSeq, t.maxSeq, t.lastSeq = ext, ext, seq
	} else {
		ext = t.maxSeq + int64(int16(seq-t.lastSeq))
	}
	slot := &t.seen[ext&1023]
	if *slot == ext+1 {
		return // a duplicate (retransmission or probe)
	}
	*slot = ext + 1
	if ext > t.maxSeq {
		t.maxSeq, t.lastSeq = ext, seq
	}
	if ext < t.baseSeq {
		t.baseSeq = ext
	}
	t.packets++
	t.bytes += int64(size)
	// RFC 3550 interarrival jitter.
	if t.clock > 0 {
		transit := float64(now.UnixNano())/1e9 - float64(ts)/t.clock
		if t.packets > 1 {
			d := math.Abs(transit - t.lastTransit)
			t.jitter += (d - t.jitter) / 16
		}
		t.lastTransit = transit
	}
}

func (s *subscriber) report(d time.Duration) SubscriberReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := SubscriberReport{Identity: s.identity, Room: s.room}
	var bytes int64
	var expected, lost int
	for _, t := range s.tracks {
		t.mu.Lock()
		exp := int(t.maxSeq - t.baseSeq + 1)
		if !t.started {
			exp = 0
		}
		tl := exp - t.packets
		if tl < 0 {
			tl = 0
		}
		tr := TrackReport{Publisher: t.publisher, Kind: t.kind, Codec: t.codec, Packets: t.packets, Lost: tl, Bytes: t.bytes, JitterMs: t.jitter * 1000}
		t.mu.Unlock()
		r.Tracks = append(r.Tracks, tr)
		bytes += tr.Bytes
		expected += exp
		lost += tl
		r.JitterMs = math.Max(r.JitterMs, tr.JitterMs)
	}
	sort.Slice(r.Tracks, func(i, j int) bool {
		return r.Tracks[i].Publisher+r.Tracks[i].Kind < r.Tracks[j].Publisher+r.Tracks[j].Kind
	})
	if d > 0 {
		r.Kbps = float64(bytes*8) / d.Seconds() / 1000
	}
	if expected > 0 {
		r.LossPct = 100 * float64(lost) / float64(expected)
	}
	return r
}
