package sfu

import (
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/tick"
	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/nackgen"
)

// MaxLayers is the number of simulcast layers a track can have (low, medium, high).
const MaxLayers = 3

// LayerOff marks a downtrack that should receive no video.
const LayerOff = -1

// layerIdleAfter is how long a simulcast layer may go without packets before it counts as stopped
// (the publisher's encoder paused it, or its uplink dropped it).
const layerIdleAfter = 1500 * time.Millisecond

// Subscriber is one receiver of a track's packets: a downtrack to a client today, a recorder's
// writer, a relay to another node or a SIP bridge tomorrow. What it wants counts toward the layer
// demand that dynacast turns into what the publisher sends.
type Subscriber interface {
	// WritePacket is called from the subscriber's lane only (see forwarder.Sink).
	forwarder.Sink
	// Lane is the writer its packets are written from (nil: the track's least loaded).
	Lane() *forwarder.Lane
	// DesiredLayer is the layer it wants (LayerOff: none); a paused subscriber wants nothing.
	DesiredLayer() int8
	Paused() bool
	// LayersChanged tells it which layers the publisher sends now.
	LayersChanged(active [MaxLayers]bool)
	// SourceClosed tells it the track ended; it is no longer subscribed.
	SourceClosed()
}

// RTCPWriter sends RTCP towards the publisher of a track.
type RTCPWriter func([]rtcp.Packet) error

// Track is one published track: its receivers (one per simulcast layer), the forwarder that fans its
// packets out, and the downtracks subscribed to it.
type Track struct {
	id          string
	publisherID string
	kind        webrtc.RTPCodecType
	encrypted   bool
	log         *slog.Logger
	pliThrottle time.Duration
	writeRTCP   RTCPWriter

	codec     atomic.Pointer[webrtc.RTPCodecParameters]
	codecKind atomic.Uint32

	receivers [MaxLayers]atomic.Pointer[Receiver]
	fwd       *forwarder.Forwarder
	// ownPool is the pool the track started for itself (no Writers given), stopped with it.
	ownPool *forwarder.Pool

	// Keyframe requests and NACKs towards the publisher are queued to one goroutine so that
	// writers and the socket's reader never do RTCP I/O.
	pliCh   chan int8
	lastPLI [MaxLayers]atomic.Int64
	nackCh  chan nackRequest
	// nacksSent counts packets asked for again from the publisher.
	nacksSent atomic.Uint64

	mu     sync.Mutex
	subs   map[Subscriber]struct{}
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup

	// The TrackParams callbacks: the first packet arrived, every receiver ended, demand changed.
	onFirstPacket func()
	firstPacket   atomic.Bool
	onEnded       func()
	endedOnce     sync.Once
	onDemand      func()
	stats         *Stats

	// rates[s][t] is the measured bitrate of layer s with temporal layers up to t (bits/s).
	ratesMu  sync.Mutex
	rates    [MaxLayers][4]uint64
	lastTID  [MaxLayers][4]uint64 // byte counters at the last measurement
	lastRate int64
}

// TrackParams describes a new published track.
type TrackParams struct {
	ID          string
	PublisherID string
	Kind        webrtc.RTPCodecType
	// Encrypted: the frames are encrypted end to end (livekit-client's E2EE). Subscribers get
	// them as published: an Opus frame packed into RED would reach their decryptor as a RED
	// block it cannot open.
	Encrypted   bool
	PLIThrottle time.Duration
	WriteRTCP   RTCPWriter
	Logger      *slog.Logger
	// OnFirstPacket is called once, when media first arrives.
	OnFirstPacket func()
	// OnEnded is called once when every receiver's stream ended on the publisher's side (the client
	// removed the track), not when the track is closed by the server.
	OnEnded func()
	// OnDemandChanged is told when subscribers come, go or change the layer they want; it must not
	// block (dynacast recomputes what the publisher needs to send).
	OnDemandChanged func()
	// Stats, if set, counts the track's packets in the engine's totals.
	Stats *Stats
	// Writers is the node's writer pool (Engine.Writers). Nil: the track starts a pool of its own,
	// one writer per core, stopped with it.
	Writers *forwarder.Pool
}

// NewTrack makes a track that receivers can be attached to.
func NewTrack(p TrackParams) *Track {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.PLIThrottle == 0 {
		p.PLIThrottle = 500 * time.Millisecond
	}
	t := &Track{
		id:            p.ID,
		publisherID:   p.PublisherID,
		kind:          p.Kind,
		encrypted:     p.Encrypted,
		log:           p.Logger.With("track", p.ID),
		pliThrottle:   p.PLIThrottle,
		writeRTCP:     p.WriteRTCP,
		pliCh:         make(chan int8, 8),
		nackCh:        make(chan nackRequest, 16),
		subs:          map[Subscriber]struct{}{},
		done:          make(chan struct{}),
		onFirstPacket: p.OnFirstPacket,
		onEnded:       p.OnEnded,
		onDemand:      p.OnDemandChanged,
		stats:         p.Stats,
	}
	pool := p.Writers
	if pool == nil {
		pool = forwarder.NewPool(runtime.GOMAXPROCS(0), nil)
		t.ownPool = pool
	}
	t.fwd = forwarder.New(pool)
	if t.stats != nil {
		t.stats.addTrack(t)
	}
	t.wg.Add(2)
	go t.feedbackLoop()
	go t.layerWatch()
	return t
}

// ID is the track's SID.
func (t *Track) ID() string { return t.id }

// PublisherID is the publishing participant's SID.
func (t *Track) PublisherID() string { return t.publisherID }

// Kind is audio or video.
func (t *Track) Kind() webrtc.RTPCodecType { return t.kind }

// Codec returns the codec the publisher sends, once known.
func (t *Track) Codec() (webrtc.RTPCodecParameters, bool) {
	c := t.codec.Load()
	if c == nil {
		return webrtc.RTPCodecParameters{}, false
	}
	return *c, true
}

func (t *Track) kindOf() codecs.Kind { return codecs.Kind(t.codecKind.Load()) }

// AddReceiver attaches the pion track of one layer and starts reading it.
func (t *Track) AddReceiver(remote *webrtc.TrackRemote, rr *webrtc.RTPReceiver, layer int8) *Receiver {
	if layer < 0 || layer >= MaxLayers {
		layer = 0
	}
	c := remote.Codec()
	if t.codec.Load() == nil {
		t.codec.Store(&c)
		t.codecKind.Store(uint32(codecs.FromMime(c.MimeType)))
	}
	r := newReceiver(t, remote, rr, layer)
	if old := t.receivers[layer].Swap(r); old != nil {
		old.close()
	}
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		r.close()
		return r
	}
	r.start()
	return r
}

// Receiver returns the receiver of a layer, or nil.
func (t *Track) Receiver(layer int8) *Receiver {
	if layer < 0 || layer >= MaxLayers {
		return nil
	}
	return t.receivers[layer].Load()
}

// packetArrived is called by receivers for every stored packet.
func (t *Track) packetArrived() {
	if !t.firstPacket.Load() && t.firstPacket.CompareAndSwap(false, true) && t.onFirstPacket != nil {
		go t.onFirstPacket()
	}
}

// receiverEnded is called when a receiver's stream ends by itself; when all have, the track ended.
func (t *Track) receiverEnded() {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return
	}
	for i := range t.receivers {
		if r := t.receivers[i].Load(); r != nil && !r.ended.Load() {
			return
		}
	}
	t.endedOnce.Do(func() {
		if t.onEnded != nil {
			go t.onEnded()
		}
	})
}

// ActiveLayers reports which layers received packets recently.
func (t *Track) ActiveLayers() (active [MaxLayers]bool) {
	now := time.Now().UnixNano()
	for i := range t.receivers {
		if r := t.receivers[i].Load(); r != nil {
			last := r.lastPacket.Load()
			active[i] = last != 0 && now-last < int64(layerIdleAfter)
		}
	}
	return active
}

// RequestKeyframe asks the publisher for a keyframe on layer, at most once per throttle interval.
// It never blocks.
func (t *Track) RequestKeyframe(layer int8) {
	if t.kind != webrtc.RTPCodecTypeVideo || layer < 0 || layer >= MaxLayers {
		return
	}
	now := time.Now().UnixNano()
	last := t.lastPLI[layer].Load()
	if now-last < int64(t.pliThrottle) || !t.lastPLI[layer].CompareAndSwap(last, now) {
		return
	}
	select {
	case t.pliCh <- layer:
	default:
	}
}

// nackRequest names packets of one of the publisher's streams to send again.
type nackRequest struct {
	ssrc uint32
	n    int
	seqs [nackgen.MaxMissing]uint16
}

// requestNACK asks the publisher to send the packets seqs of stream ssrc again. It is called on
// the stream's receiving goroutine and never blocks: a request that finds the queue full is
// dropped (the packets are asked for again on a later arrival).
func (t *Track) requestNACK(ssrc uint32, seqs []uint16) {
	req := nackRequest{ssrc: ssrc}
	req.n = copy(req.seqs[:], seqs)
	select {
	case t.nackCh <- req:
	default:
	}
}

// NACKsSent is how many packets were asked for again from the publisher.
func (t *Track) NACKsSent() uint64 { return t.nacksSent.Load() }

// feedbackLoop sends the publisher the keyframe requests and NACKs queued for it.
func (t *Track) feedbackLoop() {
	defer t.wg.Done()
	for {
		select {
		case layer := <-t.pliCh:
			r := t.receivers[layer].Load()
			if r == nil || t.writeRTCP == nil {
				continue
			}
			if err := t.writeRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: r.ssrc}}); err != nil {
				t.log.Debug("keyframe request failed", "layer", layer, "err", err)
			}
		case req := <-t.nackCh:
			if t.writeRTCP == nil {
				continue
			}
			nack := &rtcp.TransportLayerNack{MediaSSRC: req.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(req.seqs[:req.n])}
			if err := t.writeRTCP([]rtcp.Packet{nack}); err != nil {
				t.log.Debug("NACK failed", "ssrc", req.ssrc, "err", err)
				continue
			}
			t.nacksSent.Add(uint64(req.n))
		case <-t.done:
			return
		}
	}
}

// layerWatch measures the layers' bitrates, and moves downtracks off layers that stopped and back
// up when they resume.
func (t *Track) layerWatch() {
	defer t.wg.Done()
	tick := tick.New(500 * time.Millisecond)
	defer tick.Stop()
	var prev [MaxLayers]bool
	for {
		select {
		case <-tick.C:
			tick.Next()
			t.measureRates()
			if t.kind != webrtc.RTPCodecTypeVideo {
				continue
			}
			active := t.ActiveLayers()
			if active != prev {
				prev = active
				t.retarget(active)
			}
		case <-t.done:
			return
		}
	}
}

// measureRates updates the per-layer bitrates (a moving average over about two seconds).
func (t *Track) measureRates() {
	now := time.Now().UnixNano()
	active := t.ActiveLayers()
	t.ratesMu.Lock()
	defer t.ratesMu.Unlock()
	dt := float64(now-t.lastRate) / 1e9
	first := t.lastRate == 0
	t.lastRate = now
	for s := range t.receivers {
		r := t.receivers[s].Load()
		if r == nil || !active[s] {
			t.rates[s] = [4]uint64{}
			continue
		}
		var cum float64
		for tid := 0; tid < 4; tid++ {
			b := r.bytesByTID[tid].Load()
			delta := b - t.lastTID[s][tid]
			t.lastTID[s][tid] = b
			if first || dt <= 0 {
				continue
			}
			if delta == 0 && tid > 0 {
				t.rates[s][tid] = 0 // this temporal layer is not sent
				continue
			}
			cum += float64(delta*8) / dt
			old := float64(t.rates[s][tid])
			if old == 0 {
				t.rates[s][tid] = uint64(cum)
			} else {
				t.rates[s][tid] = uint64(0.75*old + 0.25*cum)
			}
		}
	}
}

// Rates returns the measured bitrates: [spatial][temporal], temporal layers cumulative, 0 where a
// layer is not received.
func (t *Track) Rates() [MaxLayers][4]uint64 {
	t.ratesMu.Lock()
	defer t.ratesMu.Unlock()
	return t.rates
}

// Bitrate is the total rate received for the track (all layers).
func (t *Track) Bitrate() uint64 {
	r := t.Rates()
	var sum uint64
	for s := range r {
		for tid := 3; tid >= 0; tid-- {
			if r[s][tid] > 0 {
				sum += r[s][tid]
				break
			}
		}
	}
	return sum
}

func (t *Track) retarget(active [MaxLayers]bool) {
	for _, s := range t.Subscribers() {
		s.LayersChanged(active)
	}
}

// SelectLayer picks the layer to forward for a subscriber that wants desired: the best active layer
// not above it, else the lowest active one, else desired itself (until media flows).
func SelectLayer(desired int8, active [MaxLayers]bool) int8 {
	if desired < 0 {
		return LayerOff
	}
	if desired >= MaxLayers {
		desired = MaxLayers - 1
	}
	for l := desired; l >= 0; l-- {
		if active[l] {
			return l
		}
	}
	for l := desired + 1; l < MaxLayers; l++ {
		if active[l] {
			return l
		}
	}
	return desired
}

// AddDownTrack subscribes dt to this track's packets.
func (t *Track) AddDownTrack(dt *DownTrack) bool { return t.AddSubscriber(dt) }

// AddSubscriber subscribes s to this track's packets; false if the track has closed.
func (t *Track) AddSubscriber(s Subscriber) bool {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false
	}
	t.subs[s] = struct{}{}
	t.mu.Unlock()
	s.LayersChanged(t.ActiveLayers())
	t.fwd.Add(s, s.Lane())
	t.demandChanged()
	return true
}

func (t *Track) demandChanged() {
	if t.onDemand != nil {
		t.onDemand()
	}
}

// MaxDesiredLayer is the highest layer any subscriber wants (LayerOff when none wants video).
func (t *Track) MaxDesiredLayer() int8 {
	t.mu.Lock()
	defer t.mu.Unlock()
	max := int8(LayerOff)
	for s := range t.subs {
		if s.Paused() {
			continue
		}
		if d := s.DesiredLayer(); d > max {
			max = d
		}
	}
	return max
}

// AudioLevel returns the mean audio level (dBov, 0 loudest, -127 silence) of the packets received
// since the last call, from the publisher's RFC 6464 header extension; ok is false if none carried it.
func (t *Track) AudioLevel() (dBov float64, ok bool) {
	var sum, n uint64
	for i := range t.receivers {
		if r := t.receivers[i].Load(); r != nil {
			sum += r.levelSum.Swap(0)
			n += r.levelCount.Swap(0)
		}
	}
	if n == 0 {
		return -127, false
	}
	mean := float64(sum) / float64(n) / levelScale
	if mean <= 0 {
		return -127, true
	}
	return 10 * math.Log10(mean), true
}

// RemoveDownTrack unsubscribes dt.
func (t *Track) RemoveDownTrack(dt *DownTrack) { t.RemoveSubscriber(dt) }

// RemoveSubscriber unsubscribes s.
func (t *Track) RemoveSubscriber(s Subscriber) {
	t.mu.Lock()
	_, ok := t.subs[s]
	delete(t.subs, s)
	t.mu.Unlock()
	if ok {
		t.fwd.Remove(s)
		t.demandChanged()
	}
}

// Subscribers returns the current subscribers.
func (t *Track) Subscribers() []Subscriber {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Subscriber, 0, len(t.subs))
	for s := range t.subs {
		out = append(out, s)
	}
	return out
}

// DownTracks returns the subscribers that are downtracks to clients.
func (t *Track) DownTracks() []*DownTrack {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*DownTrack, 0, len(t.subs))
	for s := range t.subs {
		if dt, ok := s.(*DownTrack); ok {
			out = append(out, dt)
		}
	}
	return out
}

// Forwarder exposes the fan-out for statistics.
func (t *Track) Forwarder() *forwarder.Forwarder { return t.fwd }

// Close stops the receivers and the forwarder and closes every downtrack.
func (t *Track) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	subs := make([]Subscriber, 0, len(t.subs))
	for s := range t.subs {
		subs = append(subs, s)
	}
	t.subs = map[Subscriber]struct{}{}
	t.mu.Unlock()
	for i := range t.receivers {
		if r := t.receivers[i].Load(); r != nil {
			r.close()
		}
	}
	close(t.done)
	t.fwd.Close()
	if t.ownPool != nil {
		t.ownPool.Close()
	}
	t.wg.Wait()
	for i := range t.receivers {
		if r := t.receivers[i].Load(); r != nil {
			r.wait()
		}
	}
	for _, s := range subs {
		s.SourceClosed()
	}
	if t.stats != nil {
		t.stats.removeTrack(t)
	}
	// Closed downtracks can outlive the track in their lane's allocation chunk (forwarder.Alloc)
	// and still point here: the receivers and their packet caches must not stay reachable.
	for i := range t.receivers {
		t.receivers[i].Store(nil)
	}
}

// LayerForRID maps a simulcast RID to a layer. LiveKit clients use q/h/f; other names fall back to
// their order of appearance through the caller.
func LayerForRID(rid string) (int8, bool) {
	switch strings.ToLower(rid) {
	case "q", "l", "low", "0":
		return 0, true
	case "h", "m", "mid", "medium", "1":
		return 1, true
	case "f", "high", "2":
		return 2, true
	}
	return 0, false
}
