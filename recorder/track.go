package recorder

import (
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu"
	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/packetcache"
)

// QueueLen bounds the packets waiting for a track writer's goroutine. When the disk is slower
// than the track, packets beyond it are dropped and counted; forwarding never waits.
const QueueLen = 512

// Source is the track a writer records (an *sfu.Track).
type Source interface {
	Kind() webrtc.RTPCodecType
	Codec() (webrtc.RTPCodecParameters, bool)
	RequestKeyframe(layer int8)
}

// senderClocked is a Source that knows its publisher's RTCP sender reports (an *sfu.Track does).
type senderClocked interface {
	SenderClock(layer int8) (ntp time.Time, rtpTS uint32, clockRate uint32, ok bool)
}

// TrackParams describes the file a TrackWriter makes.
type TrackParams struct {
	// Path is the file's name without extension: the writer adds the container's.
	Path string
	// Width and Height are the publisher's announced size (used where the stream does not say).
	Width, Height int
	Logger        *slog.Logger
}

// Resolution is a video size from some point of a file on.
type Resolution struct {
	AtMs   int64 `json:"at_ms"`
	Width  int   `json:"width"`
	Height int   `json:"height"`
}

// Where a track's Start came from (TrackResult.StartFrom).
const (
	// StartArrival: when the file's first frame reached the node.
	StartArrival = "arrival"
	// StartSenderReport: the first frame's time on the publisher's clock, by its RTCP sender
	// reports, moved onto the node's clock by the participant's least-delayed track (see
	// Manifest.alignSenders).
	StartSenderReport = "sender_report"
)

// TrackResult is what a writer made.
type TrackResult struct {
	File  string `json:"file"`
	Codec string `json:"codec"`
	// Start is where the file's first frame belongs on the node's clock; StartFrom says how it
	// was found. ArrivalStart is when that frame arrived, SenderStart (once a sender report
	// came) when the publisher's own clock says it was taken.
	Start        time.Time    `json:"start"`
	StartFrom    string       `json:"start_from,omitempty"`
	ArrivalStart time.Time    `json:"arrival_start,omitzero"`
	SenderStart  *time.Time   `json:"sender_start,omitempty"`
	End          time.Time    `json:"end"`
	Size         int64        `json:"size"`
	Frames       uint64       `json:"frames"`
	Dropped      uint64       `json:"dropped_packets"`
	Resolutions  []Resolution `json:"resolutions,omitempty"`
	// Speaking is when an audio track carried speech, by the publisher's RFC 6464 levels.
	Speaking []Interval `json:"speaking,omitempty"`
	Error    string     `json:"error,omitempty"`
}

// TrackWriter records one published track to one file without transcoding. It is a subscriber of
// the SFU track: the forwarder's writer only copies each packet into its queue; its own goroutine
// reorders them, joins frames and writes the container.
type TrackWriter struct {
	src    Source
	params TrackParams
	log    *slog.Logger
	video  bool
	kind   codecs.Kind
	mime   string
	rate   int64

	queue   chan *packet
	dropped atomic.Uint64
	// target is the layer recorded: the best one the publisher sends.
	target atomic.Int32

	stop     chan struct{}
	stopOnce sync.Once
	srcDone  chan struct{}
	srcOnce  sync.Once
	done     chan struct{}

	// Owned by the goroutine.
	order   reorder
	builder *frameBuilder
	layer   int8
	out     container
	file    string
	startNs int64
	// firstTS and firstLayer are the file's first frame's RTP time and layer, for SenderStart.
	firstTS    uint32
	firstLayer int8
	lastTS     uint32
	lastPTS    int64
	newEpoch   bool
	res        TrackResult
	failed     bool
	speech     speech

	mu     sync.Mutex
	result TrackResult
}

// NewTrackWriter starts recording src; it must then be added as a subscriber of the track.
func NewTrackWriter(src Source, p TrackParams) (*TrackWriter, error) {
	c, ok := src.Codec()
	if !ok {
		return nil, codecError("unknown")
	}
	kind := codecs.FromMime(c.MimeType)
	switch kind {
	case codecs.Opus, codecs.RED, codecs.VP8, codecs.VP9, codecs.H264:
	default:
		return nil, codecError(c.MimeType)
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	w := &TrackWriter{
		src: src, params: p, log: p.Logger.With("file", p.Path),
		video: src.Kind() == webrtc.RTPCodecTypeVideo, kind: kind, mime: strings.ToLower(c.MimeType),
		rate:  int64(c.ClockRate),
		queue: make(chan *packet, QueueLen),
		stop:  make(chan struct{}), srcDone: make(chan struct{}), done: make(chan struct{}),
		layer: -1,
	}
	if w.rate == 0 {
		w.rate = 90000
	}
	w.target.Store(sfu.MaxLayers - 1)
	if w.video {
		w.builder = newFrameBuilder(kind)
	}
	w.res.Codec = w.mime
	go w.run()
	return w, nil
}

// WritePacket copies the packet into the queue, or drops it if the queue is full.
func (w *TrackWriter) WritePacket(layer int8, p *packetcache.Packet, _ int64, _ *forwarder.Scratch) {
	if p.IsPadding() || (w.video && int32(layer) != w.target.Load()) {
		return
	}
	q := newPacket(layer, p)
	select {
	case w.queue <- q:
	default:
		freePacket(q)
		w.dropped.Add(1)
	}
}

// Lane lets the track pick the writer that copies packets to the recorder.
func (w *TrackWriter) Lane() *forwarder.Lane { return nil }

// DesiredLayer asks for the best layer: a recording is watched at full size later.
func (w *TrackWriter) DesiredLayer() int8 { return sfu.MaxLayers - 1 }

// Paused is never true: a recording wants everything.
func (w *TrackWriter) Paused() bool { return false }

// LayersChanged follows the best layer the publisher sends.
func (w *TrackWriter) LayersChanged(active [sfu.MaxLayers]bool) {
	for l := sfu.MaxLayers - 1; l >= 0; l-- {
		if active[l] {
			w.target.Store(int32(l))
			return
		}
	}
}

// SourceClosed ends the file when the track ends.
func (w *TrackWriter) SourceClosed() { w.srcOnce.Do(func() { close(w.srcDone) }) }

// Stop ends the file and waits until it is closed; the caller removes the writer from the track.
func (w *TrackWriter) Stop() TrackResult {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
	return w.Result()
}

// Done is closed once the file is closed.
func (w *TrackWriter) Done() <-chan struct{} { return w.done }

// Result is what the writer has made so far.
func (w *TrackWriter) Result() TrackResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.result
	r.Dropped = w.dropped.Load()
	r.Resolutions = append([]Resolution(nil), r.Resolutions...)
	r.Speaking = append([]Interval(nil), r.Speaking...)
	return r
}

func (w *TrackWriter) run() {
	defer close(w.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case p := <-w.queue:
			w.handle(p)
		case <-tick.C:
			w.order.expire(time.Now().UnixNano(), w.emit)
			w.senderStart()
			if w.out != nil && !w.failed {
				if err := w.out.flush(); err != nil {
					w.fail(err)
				}
			}
			w.publish()
		case <-w.stop:
			w.finish()
			return
		case <-w.srcDone:
			w.finish()
			return
		}
	}
}

func (w *TrackWriter) finish() {
	for {
		select {
		case p := <-w.queue:
			w.handle(p)
			continue
		default:
		}
		break
	}
	w.order.flush(w.emit)
	w.speech.end(&w.res.Speaking)
	w.senderStart()
	if w.out != nil {
		if err := w.out.close(); err != nil && !w.failed {
			w.res.Error = err.Error()
		}
	}
	w.publish()
	if d := w.dropped.Load(); d > 0 {
		w.log.Warn("recording dropped packets: the disk was slower than the track", "dropped", d)
	}
}

// publish makes what was written so far visible to Result.
func (w *TrackWriter) publish() {
	r := w.res
	if w.out != nil {
		if fi, err := os.Stat(w.file); err == nil {
			r.Size = fi.Size()
		}
	}
	r.Resolutions = append([]Resolution(nil), w.res.Resolutions...)
	r.Speaking = append([]Interval(nil), w.res.Speaking...)
	w.mu.Lock()
	w.result = r
	w.mu.Unlock()
}

func (w *TrackWriter) handle(p *packet) {
	if w.video && p.layer != w.layer {
		// Another layer is its own stream: start over from its next keyframe.
		w.order.flush(func(p *packet, _ bool) { freePacket(p) })
		w.order = reorder{}
		w.builder = newFrameBuilder(w.kind)
		w.layer = p.layer
		w.newEpoch = true
		w.src.RequestKeyframe(p.layer)
	}
	w.order.push(p, w.emit)
}

func (w *TrackWriter) emit(p *packet, lostBefore bool) {
	defer freePacket(p)
	if w.failed {
		return
	}
	if !w.video {
		data := p.payload()
		if w.kind == codecs.RED {
			var ok bool
			if data, ok = codecs.REDPrimary(data); !ok {
				return
			}
		}
		w.writeFrame(p.ts, p.arrival, true, data)
		if p.levelOK && w.out != nil {
			w.speech.heard(p.arrival, p.level, &w.res.Speaking)
		}
		return
	}
	if w.builder.push(p, lostBefore, w.writeFrame) {
		w.src.RequestKeyframe(w.layer)
	}
}

// writeFrame puts a frame on the file's timeline: RTP time within a stream, and the wall clock
// (arrival) where a stream begins, so that every file of a recording lines up.
func (w *TrackWriter) writeFrame(ts uint32, arrival int64, key bool, data []byte) {
	if w.out == nil {
		if !w.open(arrival, data) {
			return
		}
		w.newEpoch = true
		w.firstTS, w.firstLayer = ts, max(w.layer, 0)
		w.senderStart()
	}
	var pts int64
	if w.newEpoch {
		pts = (arrival - w.startNs) * w.rate / int64(time.Second)
		if pts <= w.lastPTS && w.res.Frames > 0 {
			pts = w.lastPTS + 1
		}
		w.newEpoch = false
	} else {
		pts = w.lastPTS + int64(int32(ts-w.lastTS))
	}
	w.lastTS, w.lastPTS = ts, pts
	f := frame{pts: pts, ms: pts * 1000 / w.rate, key: key, data: data}
	if w.video && key && w.builder.width > 0 {
		if n := len(w.res.Resolutions); n == 0 || w.res.Resolutions[n-1].Width != w.builder.width || w.res.Resolutions[n-1].Height != w.builder.height {
			w.res.Resolutions = append(w.res.Resolutions, Resolution{AtMs: f.ms, Width: w.builder.width, Height: w.builder.height})
		}
	}
	if err := w.out.write(&f); err != nil {
		w.fail(err)
		return
	}
	w.res.Frames++
	w.res.End = time.Unix(0, arrival)
}

// open creates the file on the first frame that can start it.
func (w *TrackWriter) open(arrival int64, first []byte) bool {
	var err error
	switch w.kind {
	case codecs.Opus, codecs.RED:
		w.file = w.params.Path + ".ogg"
		w.out, err = newOgg(w.file)
	case codecs.VP8, codecs.VP9:
		w.file = w.params.Path + ".webm"
		id := map[codecs.Kind]string{codecs.VP8: "V_VP8", codecs.VP9: "V_VP9"}[w.kind]
		width, height := w.size()
		w.out, err = newMKV(w.file, id, nil, width, height, false)
	case codecs.H264:
		cfg, ok := avcConfig(first)
		if !ok {
			w.src.RequestKeyframe(w.layer)
			return false // a keyframe without its parameter sets: wait for one with them
		}
		w.file = w.params.Path + ".mkv"
		width, height := w.size()
		w.out, err = newMKV(w.file, "V_MPEG4/ISO/AVC", cfg, width, height, true)
	}
	if err != nil {
		w.fail(err)
		return false
	}
	w.startNs = arrival
	w.res.File = w.file
	w.res.Start = time.Unix(0, arrival)
	w.res.ArrivalStart = w.res.Start
	w.res.StartFrom = StartArrival
	if w.video && w.builder.width == 0 && w.params.Width > 0 {
		w.res.Resolutions = append(w.res.Resolutions, Resolution{Width: w.params.Width, Height: w.params.Height})
	}
	return true
}

func (w *TrackWriter) fail(err error) {
	w.failed = true
	w.res.Error = err.Error()
	w.log.Error("recording failed", "err", err)
}

func (w *TrackWriter) size() (int, int) {
	if w.builder.width > 0 {
		return w.builder.width, w.builder.height
	}
	return w.params.Width, w.params.Height
}

// senderStart finds, once the publisher has sent a sender report for the stream, when its clock
// says the file's first frame was taken. Reports come about once a second, often after the first
// frame: the writer asks again on every tick until one is there.
func (w *TrackWriter) senderStart() {
	sc, ok := w.src.(senderClocked)
	if !ok || w.out == nil || w.res.SenderStart != nil {
		return
	}
	ntp, srTS, rate, ok := sc.SenderClock(w.firstLayer)
	if !ok {
		return
	}
	t := senderTime(ntp, srTS, rate, w.firstTS)
	// A report of another stream on the layer (the publisher restarted it: another SSRC and RTP
	// base) puts the first frame hours away from how long ago it arrived; it is not used.
	if skew := time.Since(time.Unix(0, w.startNs)) - ntp.Sub(t); skew.Abs() > maxReportSkew {
		return
	}
	w.res.SenderStart = &t
}

// maxReportSkew bounds how far a sender report may disagree with the node on how long ago the
// file's first frame was: its age (Chromium reports audio every 5 s), network delay and drift.
const maxReportSkew = 30 * time.Second

// senderTime is when the sender's clock read RTP time ts, given its report that it read ntp at
// srTS. The difference is taken as signed 32 bits: right across the RTP clock's wrap, and for
// frames before the report as well as after.
func senderTime(ntp time.Time, srTS, rate, ts uint32) time.Time {
	d := int64(int32(ts - srTS))
	return ntp.Add(time.Duration(d * int64(time.Second) / int64(rate)))
}
