package sfu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/bwe"
	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/munger"
	"github.com/hop-meet/hop/sfu/packetcache"
	"github.com/hop-meet/hop/sfu/srtpout"
)

// How many sent packets a downtrack remembers to answer NACKs (powers of two): about 1.5 s of 720p
// video or 5 s of audio, past the point where a retransmission can still be played (a receiver's
// jitter buffer waits a few hundred milliseconds). Memory per subscriber is dominated by these.
const (
	videoHistory = 512
	audioHistory = 256
)

// sentPacket maps an outgoing sequence number back to the cached packet and the rewriting applied.
// It is kept to 16 bytes: every subscriber holds hundreds per track.
type sentPacket struct {
	// rtxAt is when it was last sent again (milliseconds, wrapping; 0: never), to answer repeated
	// NACKs at most once per nackRepeat.
	rtxAt uint32
	// outTS is the timestamp sent; for a hole, the timestamp offset in force (the packet's own
	// timestamp is not known until it is).
	outTS uint32
	inSeq uint16
	// outSeq tells the entry from the one a history length before it in the ring.
	outSeq uint16
	// The VP8 picture-ID and TL0PICIDX offsets the payload was rewritten with (both 0: sent as
	// received).
	picDelta uint16
	tl0Delta uint8
	// slot is the source layer + 1; 0 marks an empty entry, padSlot a padding-only packet, and
	// -(layer + 1) a hole: a number left open for a packet of that layer that was not forwarded
	// (lost before the node, or missed by a writer that was behind), sent from the cache if it is
	// there when the subscriber asks for it.
	slot int8
}

// padSlot marks a padding-only packet in the history: a lost one is sent again as padding, so
// the subscriber's NACKs for it are answered like any other.
const padSlot = 127

func (e *sentPacket) valid() bool   { return e.slot != 0 }
func (e *sentPacket) padding() bool { return e.slot == padSlot }
func (e *sentPacket) hole() bool    { return e.slot < 0 }
func (e *sentPacket) layer() int8 {
	if e.slot < 0 {
		return -e.slot - 1
	}
	return e.slot - 1
}

// maxHole bounds the numbers a gap records as holes: a longer one is an outage, over before a
// retransmission could help.
const maxHole = 32

func (e *sentPacket) rewrote() bool { return e.picDelta != 0 || e.tl0Delta != 0 }

// binding is what pion negotiated for this downtrack with its subscriber.
type binding struct {
	// twccID is the negotiated transport-wide sequence number extension (0: none).
	twccID   uint8
	ssrc     uint32
	rtxSSRC  uint32
	pt       uint8
	rtxPT    uint8
	writer   webrtc.TrackLocalWriter
	stripRED bool
	// packRED builds RED (RFC 2198) for the subscriber from the last primaries, with innerPT (the
	// subscriber's Opus payload type) inside; srcRED says the publisher's packets are RED already.
	packRED bool
	srcRED  bool
	innerPT uint8
	clock   uint32
}

// DownTrack sends one published track to one subscriber. It is a pion TrackLocal.
//
// Its packets come from one forwarder writer goroutine, which alone touches the munger;
// control (layer targets, pause) changes through atomics.
//
// What the writer rewrites for every packet (downTrackHot) lives in memory kept for its writer
// (forwarder.Alloc), apart from other writers' downtracks. That memory is freed only when nothing
// in its chunk is in use, so the hot part holds no pointer out of it: a closed downtrack left in
// a chunk keeps no track, connection or participant reachable. The rest is an ordinary object.
type DownTrack struct {
	*downTrackHot
	downTrack
}

type downTrack struct {
	track        *Track
	subscriberID string
	streamID     string
	kind         webrtc.RTPCodecType

	bound atomic.Pointer[binding]

	// desired is the layer the subscriber asked for (LayerOff when it disabled the track);
	// target is what the track's availability allows.
	desired atomic.Int32
	target  atomic.Int32
	paused  atomic.Bool
	// The allocator's decision: the highest spatial and temporal layers this subscriber's bandwidth
	// allows (spatial LayerOff: paused for lack of bandwidth).
	allocSpatial  atomic.Int32
	allocTemporal atomic.Int32
	// priority orders tracks when bandwidth is short (higher first).
	priority atomic.Int32
	// onStreamState is told when the allocator pauses or resumes the track.
	onStreamState func(paused bool)
	congested     atomic.Bool
	// starvedSince is when the allocator last found no room for the track (allocator-owned).
	starvedSince time.Time

	// sent is the history of packets sent, in chunk memory too (len is a power of two).
	sent []sentPacket

	// sender is set once the downtrack is attached to a transceiver.
	sender atomic.Pointer[webrtc.RTPSender]
	hist   atomic.Pointer[bwe.History]
	// out is the connection's own SRTP sender; pion's writer sends what it leaves.
	out      atomic.Pointer[srtpout.Sender]
	closed   atomic.Bool
	done     chan struct{}
	doneOnce sync.Once

	// OnClose runs once when the source track goes away or the downtrack is closed.
	onClose func()
	lane    *forwarder.Lane
	// onBound is told when pion binds the track (media can flow).
	onBound func()

	// misses is made at the first NACK that cannot be answered (most downtracks never see one;
	// a downtrack's size is what every subscriber pays per track).
	misses atomic.Pointer[missState]
}

// downTrackHot is the state written for every packet. Its only pointers are hdr's slices, into
// its own hdrExt and twccMain.
//
// Its size is padded to a multiple of 128 bytes. Neighbouring downtracks in memory often belong to
// different writers on different cores, and a core's prefetcher fetches cache lines in aligned
// pairs: a downtrack ending in the middle of a pair had its neighbour's first line pulled back and
// forth between the cores (fan-out to 100 subscribers at GOMAXPROCS=2: 74 -> 66 ns per forward).
type downTrackHot struct {
	hotState
	_ [(128 - unsafe.Sizeof(hotState{})%128) % 128]byte
}

type hotState struct {
	// holdUntil (Unix nanoseconds) keeps media back from a slot the client may not know yet.
	holdUntil atomic.Int64
	// current is writer-owned; curLayer publishes it to the RTCP goroutine.
	current  int8
	curLayer atomic.Int32

	// Temporal-layer filtering state (writer-owned): the frame being forwarded or dropped, and the
	// highest temporal layer currently forwarded.
	frameTS   uint32
	frameDrop bool
	haveFrame bool
	curTID    int8

	m   munger.Munger
	hdr rtp.Header
	// hdrExt backs hdr's extension list. Left to SetExtension, the list would be a 32-byte heap
	// object next to other downtracks' lists, rewritten for every packet from different writers'
	// cores: one cache line bouncing between cores per packet sent.
	hdrExt [1]rtp.Extension
	// Transport-wide sequence number extension payload of the forwarder writer's packets.
	twccMain [2]byte

	histMu sync.Mutex // guards sent's entries
	// rtxSeq numbers the retransmission stream, shared by NACK answers and probes.
	rtxSeq atomic.Uint32
	// lastOut is the last sequence number sent (for probes, which resend recent packets).
	lastOut atomic.Uint32
	// NACK budget: retransmissions may use a share of what the downtrack sends, so that a
	// congested subscriber's NACKs do not multiply its congestion.
	nackMu     sync.Mutex // guards the NACK state: both feedback paths may answer NACKs
	nackTokens float64    // bytes
	nackAt     int64
	nackBytes  uint64 // bytesSent at nackAt

	// packetsSent counts every RTP packet sent on the media stream, bytesSent their payload octets
	// (what sender reports and WebRTC's statistics count).
	packetsSent atomic.Uint64
	bytesSent   atomic.Uint64
	nacks       atomic.Uint64
	retransmits atomic.Uint64
	plis        atomic.Uint64

	// Sender-report state: the outgoing timestamp of the newest frame and when its first packet
	// left (Unix ns, 0: none yet). srMu is taken once per frame, never per packet. srLastTS and
	// srStarted are writer-owned, to notice a new frame without the lock.
	srMu      sync.Mutex
	srTS      uint32
	srNanos   int64
	srLastTS  uint32
	srStarted bool

	// srtp and srtpRTX are the SRTP rollover state of the stream and its retransmission stream,
	// for the sender's own AES-GCM sealing.
	srtp, srtpRTX srtpout.Stream
}

// missState remembers the first NACK of recent packets that could not be answered, to tell a
// packet that is gone for good from one still on its way. The RTCP goroutine owns ring and next.
type missState struct {
	ring [4]nackMiss
	next int
	// lostForGood counts NACKed packets that could not be sent again, repeatedly asked for.
	lostForGood atomic.Uint64
}

// DownTrackParams describes a new subscription.
type DownTrackParams struct {
	Track        *Track
	SubscriberID string
	// StreamID is the msid stream id the subscriber sees (LiveKit: "<publisher SID>|<track SID>").
	StreamID string
	// DesiredLayer is the initial layer (video).
	DesiredLayer int8
	OnClose      func()
	OnBound      func()
	// OnStreamState is told when bandwidth allocation pauses (true) or resumes the track.
	OnStreamState func(paused bool)
	// Lane is the subscriber connection's writer (Transport.Lane): every track it receives is
	// written from there. Nil: the track's least loaded writer.
	Lane *forwarder.Lane
}

// NewDownTrack makes a downtrack; attach it to a PeerConnection, then call Track.AddDownTrack.
func NewDownTrack(p DownTrackParams) *DownTrack {
	// From the lane's own memory: the downtrack is rewritten for every packet by the lane's writer.
	dt := &DownTrack{downTrackHot: forwarder.Alloc[downTrackHot](p.Lane)}
	dt.downTrack = downTrack{
		track:         p.Track,
		subscriberID:  p.SubscriberID,
		streamID:      p.StreamID,
		kind:          p.Track.kind,
		done:          make(chan struct{}),
		onClose:       p.OnClose,
		lane:          p.Lane,
		onBound:       p.OnBound,
		onStreamState: p.OnStreamState,
	}
	dt.current, dt.curTID = LayerOff, 3
	if dt.kind == webrtc.RTPCodecTypeVideo {
		dt.sent = forwarder.Alloc[[videoHistory]sentPacket](p.Lane)[:]
	} else {
		dt.sent = forwarder.Alloc[[audioHistory]sentPacket](p.Lane)[:]
	}
	dt.hdr.Extensions = dt.hdrExt[:0]
	dt.curLayer.Store(LayerOff)
	dt.allocSpatial.Store(MaxLayers - 1)
	dt.allocTemporal.Store(3)
	dt.priority.Store(1)
	dt.desired.Store(int32(p.DesiredLayer))
	dt.target.Store(int32(p.DesiredLayer))
	if p.Track.kindOf() == codecs.VP8 {
		dt.m.SetVP8(true)
	}
	return dt
}

// ID is the track id in the subscriber's SDP: the published track's SID.
func (dt *DownTrack) ID() string { return dt.track.id }

// RID is empty: a subscriber always receives a single stream.
func (dt *DownTrack) RID() string { return "" }

// StreamID is the msid stream id.
func (dt *DownTrack) StreamID() string { return dt.streamID }

// Kind is audio or video.
func (dt *DownTrack) Kind() webrtc.RTPCodecType { return dt.kind }

// Track is the published track this downtrack forwards.
func (dt *DownTrack) Track() *Track { return dt.track }

// SubscriberID is the subscribing participant's SID.
func (dt *DownTrack) SubscriberID() string { return dt.subscriberID }

// Bind is called by pion when negotiation made the track sendable; it picks the subscriber's codec.
func (dt *DownTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	src, ok := dt.track.Codec()
	if !ok {
		return webrtc.RTPCodecParameters{}, errors.New("source codec not known yet")
	}
	params := ctx.CodecParameters()
	chosen, stripRED, ok := chooseCodec(src, params)
	packRED, innerPT := false, uint8(0)
	if red, opus, ok := redAndOpus(params); ok && dt.kind == webrtc.RTPCodecTypeAudio && !dt.track.encrypted &&
		(strings.EqualFold(src.MimeType, mimeRED) || strings.EqualFold(src.MimeType, webrtc.MimeTypeOpus)) {
		// Give every subscriber that takes RED two redundant frames: a packet and the one after it
		// can be lost without a gap in the sound, whatever the publisher sent.
		chosen, stripRED, packRED, innerPT = red, false, true, uint8(opus.PayloadType)
	}
	if !ok {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("%w: subscriber cannot receive %s", webrtc.ErrUnsupportedCodec, src.MimeType)
	}
	b := &binding{
		ssrc:     uint32(ctx.SSRC()),
		rtxSSRC:  uint32(ctx.SSRCRetransmission()),
		pt:       uint8(chosen.PayloadType),
		writer:   ctx.WriteStream(),
		stripRED: stripRED,
		packRED:  packRED,
		srcRED:   strings.EqualFold(src.MimeType, mimeRED),
		innerPT:  innerPT,
		clock:    chosen.ClockRate,
	}
	for _, x := range ctx.HeaderExtensions() {
		if x.URI == sdp.TransportCCURI {
			b.twccID = uint8(x.ID)
		}
	}
	if b.rtxSSRC != 0 {
		apt := fmt.Sprintf("apt=%d", chosen.PayloadType)
		for _, c := range params {
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeRTX) && strings.Contains(c.SDPFmtpLine, apt) {
				b.rtxPT = uint8(c.PayloadType)
			}
		}
	}
	dt.bound.Store(b)
	if dt.onBound != nil {
		go dt.onBound()
	}
	// The new binding starts with a keyframe.
	dt.track.RequestKeyframe(int8(dt.target.Load()))
	return chosen, nil
}

// chooseCodec finds the subscriber's codec for the source: the same MIME type (and H.264 profile when
// possible), or Opus for a RED source when the subscriber does not take RED.
func chooseCodec(src webrtc.RTPCodecParameters, params []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool, bool) {
	var sameMime []webrtc.RTPCodecParameters
	for _, c := range params {
		if strings.EqualFold(c.MimeType, src.MimeType) {
			sameMime = append(sameMime, c)
		}
	}
	if len(sameMime) > 0 {
		if strings.EqualFold(src.MimeType, webrtc.MimeTypeH264) || strings.EqualFold(src.MimeType, webrtc.MimeTypeVP9) {
			want := fmtpValue(src.SDPFmtpLine, "profile-level-id")
			if want == "" {
				want = fmtpValue(src.SDPFmtpLine, "profile-id")
			}
			for _, c := range sameMime {
				v := fmtpValue(c.SDPFmtpLine, "profile-level-id")
				if v == "" {
					v = fmtpValue(c.SDPFmtpLine, "profile-id")
				}
				if strings.EqualFold(v, want) {
					return c, false, true
				}
			}
		}
		return sameMime[0], false, true
	}
	if strings.EqualFold(src.MimeType, "audio/red") {
		for _, c := range params {
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus) {
				return c, true, true
			}
		}
	}
	return webrtc.RTPCodecParameters{}, false, false
}

// redAndOpus finds the subscriber's RED and Opus codecs.
func redAndOpus(params []webrtc.RTPCodecParameters) (red, opus webrtc.RTPCodecParameters, ok bool) {
	var haveRED, haveOpus bool
	for _, c := range params {
		switch {
		case strings.EqualFold(c.MimeType, mimeRED) && !haveRED:
			red, haveRED = c, true
		case strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus) && !haveOpus:
			opus, haveOpus = c, true
		}
	}
	return red, opus, haveRED && haveOpus
}

// Limits of RFC 2198 blocks.
const (
	redMaxOffset = 1 << 14
	redMaxBlock  = 1 << 10
	redDistance  = 2
)

// packRED writes into dst a RED payload of primary (the frame of packet p) preceded by the primaries
// of up to redDistance earlier packets still in cache, and returns it. It allocates nothing while
// dst has room.
func packRED(dst []byte, cache *packetcache.Cache, p *packetcache.Packet, primary []byte, srcRED bool, pt uint8) []byte {
	type block struct {
		data []byte
		off  uint32
	}
	var blocks [redDistance]block
	n := 0
	total := len(primary) + 1
	for k := redDistance; k >= 1; k-- {
		q, ok := cache.Get(p.SequenceNumber - uint16(k))
		if !ok {
			continue
		}
		d := q.Payload()
		if srcRED {
			if d, ok = codecs.REDPrimary(d); !ok {
				continue
			}
		}
		off := p.Timestamp - q.Timestamp
		if off == 0 || off >= redMaxOffset || len(d) == 0 || len(d) >= redMaxBlock || total+4+len(d) > packetcache.MaxPacketSize-100 {
			continue
		}
		blocks[n] = block{d, off}
		n++
		total += 4 + len(d)
	}
	out := dst[:0]
	for _, b := range blocks[:n] {
		out = append(out, 0x80|pt, byte(b.off>>6), byte(b.off<<2)|byte(len(b.data)>>8), byte(len(b.data)))
	}
	out = append(out, pt&0x7f)
	for _, b := range blocks[:n] {
		out = append(out, b.data...)
	}
	return append(out, primary...)
}

func fmtpValue(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Unbind is called by pion when the track stops being sent.
func (dt *DownTrack) Unbind(webrtc.TrackLocalContext) error {
	dt.bound.Store(nil)
	return nil
}

// SetDesiredLayer sets the layer the subscriber wants (LayerOff to stop video).
func (dt *DownTrack) SetDesiredLayer(layer int8) {
	if int8(dt.desired.Swap(int32(layer))) == layer {
		return
	}
	dt.updateTarget(dt.track.ActiveLayers())
	dt.track.demandChanged()
}

// DesiredLayer returns what the subscriber asked for.
func (dt *DownTrack) DesiredLayer() int8 { return int8(dt.desired.Load()) }

// TargetLayer returns the layer being switched to or forwarded.
func (dt *DownTrack) TargetLayer() int8 { return int8(dt.target.Load()) }

// SetPaused stops or resumes forwarding (mute by the subscriber, or no bandwidth).
func (dt *DownTrack) SetPaused(p bool) {
	was := dt.paused.Swap(p)
	if was && !p {
		dt.track.RequestKeyframe(int8(dt.target.Load()))
	}
	if was != p {
		dt.track.demandChanged()
	}
}

func (dt *DownTrack) updateTarget(active [MaxLayers]bool) {
	if dt.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	want := int8(dt.desired.Load())
	if a := int8(dt.allocSpatial.Load()); a < want {
		want = a
	}
	t := SelectLayer(want, active)
	if int8(dt.target.Swap(int32(t))) != t && t != LayerOff {
		dt.track.RequestKeyframe(t)
	}
}

// SetAllocation applies the bandwidth allocator's decision: the highest spatial and temporal layers
// to forward; spatial LayerOff pauses the video for lack of bandwidth.
func (dt *DownTrack) SetAllocation(spatial, temporal int8) {
	dt.allocTemporal.Store(int32(temporal))
	if int8(dt.allocSpatial.Swap(int32(spatial))) == spatial {
		return
	}
	dt.updateTarget(dt.track.ActiveLayers())
	paused := spatial == LayerOff && dt.DesiredLayer() != LayerOff
	if dt.congested.Swap(paused) != paused && dt.onStreamState != nil {
		dt.onStreamState(paused)
	}
}

// Allocation returns the allocator's last decision.
func (dt *DownTrack) Allocation() (spatial, temporal int8) {
	return int8(dt.allocSpatial.Load()), int8(dt.allocTemporal.Load())
}

// SetPriority sets the track's priority for bandwidth allocation (higher first).
func (dt *DownTrack) SetPriority(p int) { dt.priority.Store(int32(p)) }

// Priority is the track's allocation priority.
func (dt *DownTrack) Priority() int { return int(dt.priority.Load()) }

// dropFrameTID decides, once per frame, whether a packet's temporal layer is forwarded. Dropping
// higher temporal layers is always safe (nothing in lower layers refers to them); climbing back
// waits for a frame a decoder can continue from (a layer sync or a base-layer frame).
func (dt *DownTrack) dropFrameTID(p *packetcache.Packet) bool {
	if !p.HasTID {
		return false
	}
	if dt.haveFrame && p.Timestamp == dt.frameTS {
		return dt.frameDrop
	}
	dt.haveFrame = true
	dt.frameTS = p.Timestamp
	maxT, tid := int8(dt.allocTemporal.Load()), int8(p.TID)
	if maxT < dt.curTID {
		dt.curTID = maxT
	}
	switch {
	case tid > maxT:
		dt.frameDrop = true
	case tid <= dt.curTID:
		dt.frameDrop = false
	case p.Keyframe:
		dt.frameDrop, dt.curTID = false, maxT
	case p.LayerSync:
		dt.frameDrop, dt.curTID = false, tid
	default:
		dt.frameDrop = true
	}
	if dt.frameDrop {
		dt.m.SkipPicture()
	}
	return dt.frameDrop
}

// WritePacket forwards one packet of the source track. It is called by a forwarder writer
// goroutine, which lends scratch for a rewritten payload.
func (dt *DownTrack) WritePacket(layer int8, p *packetcache.Packet, now int64, scratch *forwarder.Scratch) {
	b := dt.bound.Load()
	if b == nil || dt.paused.Load() || now < dt.holdUntil.Load() {
		return
	}
	if dt.kind == webrtc.RTPCodecTypeVideo {
		target := int8(dt.target.Load())
		if target == LayerOff {
			return
		}
		if layer != dt.current {
			if layer != target {
				return
			}
			// Switch only where the new layer can be decoded from: a keyframe's first packet.
			if !p.Keyframe {
				dt.track.RequestKeyframe(target)
				return
			}
			dt.current = layer
			dt.curLayer.Store(int32(layer))
			dt.m.Switch(p.SequenceNumber, p.Timestamp, p.ArrivalNanos, b.clock)
		}
	} else if !dt.m.Started() {
		dt.current = layer
		dt.m.Switch(p.SequenceNumber, p.Timestamp, p.ArrivalNanos, b.clock)
	} else if layer != dt.current {
		// An audio track's source was replaced: continue the stream from the new one.
		dt.current = layer
		dt.m.Switch(p.SequenceNumber, p.Timestamp, p.ArrivalNanos, b.clock)
	}

	skip := p.IsPadding()
	if dt.kind == webrtc.RTPCodecTypeVideo && dt.dropFrameTID(p) {
		skip = true
	}
	res := dt.m.Munge(p.SequenceNumber, p.Timestamp, p.ArrivalNanos, skip)
	if res.Drop {
		return
	}
	if res.Hole > 0 {
		dt.recordHole(layer, p, res)
	}
	if res.Fill {
		dt.histMu.Lock()
		e := &dt.sent[int(res.SeqNo)&(len(dt.sent)-1)]
		e.slot, e.inSeq, e.outSeq, e.outTS, e.rtxAt, e.picDelta, e.tl0Delta = padSlot, p.SequenceNumber, res.SeqNo, res.Timestamp, 0, 0, 0
		dt.histMu.Unlock()
		dt.writePadding(b, res.SeqNo, res.Timestamp, now, scratch)
		return
	}
	payload := p.Payload()
	var picDelta uint16
	var tl0Delta uint8
	if b.stripRED || b.packRED {
		prim := payload
		if b.srcRED || b.stripRED {
			var ok bool
			if prim, ok = codecs.REDPrimary(payload); !ok {
				return
			}
		}
		payload = prim
		if b.packRED {
			if r := dt.track.Receiver(layer); r != nil {
				payload = packRED(scratch[:], r.cache, p, prim, b.srcRED, b.innerPT)
			}
		}
	} else if dt.kind == webrtc.RTPCodecTypeVideo {
		out := dt.m.MungeVP8(payload, scratch[:])
		if len(out) > 0 && len(payload) > 0 && &out[0] != &payload[0] {
			picDelta, tl0Delta = dt.m.VP8Offsets()
		}
		payload = out
	}

	h := &dt.hdr
	h.Version = 2
	h.Padding = false
	h.Extension = false
	h.Marker = p.Marker
	h.PayloadType = b.pt
	h.SequenceNumber = res.SeqNo
	h.Timestamp = res.Timestamp
	h.SSRC = b.ssrc
	h.CSRC = h.CSRC[:0]
	dt.stamp(h, &dt.twccMain, b, len(payload), now)

	dt.histMu.Lock()
	e := &dt.sent[int(res.SeqNo)&(len(dt.sent)-1)]
	e.slot, e.inSeq, e.outSeq, e.outTS, e.rtxAt = layer+1, p.SequenceNumber, res.SeqNo, res.Timestamp, 0
	e.picDelta, e.tl0Delta = picDelta, tl0Delta
	dt.histMu.Unlock()

	if _, err := dt.writeRTP(b, h, payload); err != nil {
		return
	}
	if res.Timestamp != dt.srLastTS || !dt.srStarted {
		dt.srLastTS, dt.srStarted = res.Timestamp, true
		dt.srMu.Lock()
		dt.srTS, dt.srNanos = res.Timestamp, now
		dt.srMu.Unlock()
	}
	dt.lastOut.Store(uint32(res.SeqNo))
	dt.packetsSent.Add(1)
	dt.bytesSent.Add(uint64(len(payload)))
}

// recordHole remembers the numbers left open before res (a packet of layer): a NACK for one of them
// is answered from the cache if the packet has arrived there since.
func (dt *DownTrack) recordHole(layer int8, p *packetcache.Packet, res munger.Result) {
	n := min(res.Hole, maxHole)
	tsOffset := p.Timestamp - res.Timestamp
	picDelta, tl0Delta := dt.m.VP8Offsets()
	dt.histMu.Lock()
	for i := uint16(1); i <= n; i++ {
		out := res.SeqNo - i
		dt.sent[int(out)&(len(dt.sent)-1)] = sentPacket{slot: -(layer + 1), inSeq: p.SequenceNumber - i, outSeq: out,
			outTS: tsOffset, picDelta: picDelta, tl0Delta: tl0Delta}
	}
	dt.histMu.Unlock()
}

// SenderReport is this downtrack's RTCP sender report at now (RFC 3550 6.4.1): the RTP time is the
// newest frame's timestamp carried forward along the track's clock to now, so that the subscriber
// can map this stream's timestamps to wall-clock time (lip sync across tracks); the counts are the
// packets and payload octets sent. ok is false until a media packet was sent. Hop sends these
// itself rather than through pion's sender-report interceptor, which takes a lock and reads the
// clock for every packet.
func (dt *DownTrack) SenderReport(now time.Time) (sr rtcp.SenderReport, ok bool) {
	b := dt.bound.Load()
	if b == nil || b.clock == 0 {
		return sr, false
	}
	dt.srMu.Lock()
	ts, at := dt.srTS, dt.srNanos
	dt.srMu.Unlock()
	if at == 0 {
		return sr, false
	}
	elapsed := max(now.UnixNano()-at, 0) / 1000 // µs: int64 holds years of it times any clock rate
	return rtcp.SenderReport{
		SSRC:        b.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     ts + uint32(elapsed*int64(b.clock)/1e6),
		PacketCount: uint32(dt.packetsSent.Load()),
		OctetCount:  uint32(dt.bytesSent.Load()),
	}, true
}

// ntpTime is t in NTP's 64-bit fixed-point format: seconds since 1900, then a binary fraction.
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2_208_988_800 // seconds from 1900 to 1970
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return (uint64(t.Unix())+unixToNTP)<<32 | frac
}

// stamp gives a packet about to be sent its transport-wide sequence number, recording it for the
// bandwidth estimator. buf must belong to the calling goroutine.
func (dt *DownTrack) stamp(h *rtp.Header, buf *[2]byte, b *binding, payloadLen int, now int64) {
	h.Extension = false
	h.Extensions = h.Extensions[:0]
	hist := dt.hist.Load()
	if b.twccID == 0 || hist == nil {
		return
	}
	seq := hist.Record(12+8+payloadLen, now)
	buf[0], buf[1] = byte(seq>>8), byte(seq)
	_ = h.SetExtension(b.twccID, buf[:]) // reuses the slice's capacity: no allocation
}

// writePadding sends a padding-only packet with the given number, filling a hole in the outgoing
// sequence (a late packet that is not forwarded).
func (dt *DownTrack) writePadding(b *binding, seq uint16, ts uint32, now int64, scratch *forwarder.Scratch) {
	h := &dt.hdr
	h.Version = 2
	h.Padding = true
	h.Extension = false
	h.Marker = false
	h.PayloadType = b.pt
	h.SequenceNumber = seq
	h.Timestamp = ts
	h.SSRC = b.ssrc
	h.CSRC = h.CSRC[:0]
	dt.stamp(h, &dt.twccMain, b, 1, now)
	scratch[0] = 1 // RFC 3550: the last padding byte counts the padding, itself included
	if _, err := dt.writeRTP(b, h, scratch[:1]); err == nil {
		dt.packetsSent.Add(1)
	}
}

// Attach records the RTP sender carrying this downtrack and starts reading its RTCP. hist numbers
// and remembers every packet sent for the connection's bandwidth estimator; out (optional) is the
// connection's own SRTP sender.
func (dt *DownTrack) Attach(s *webrtc.RTPSender, hist *bwe.History, out *srtpout.Sender) {
	if !dt.sender.CompareAndSwap(nil, s) {
		return
	}
	dt.hist.Store(hist)
	if out != nil {
		dt.out.Store(out)
	}
	go dt.rtcpLoop(s)
}

// writeRTP sends one packet: through the connection's own sender, or pion's when it leaves the
// connection's RTP to pion.
func (dt *DownTrack) writeRTP(b *binding, h *rtp.Header, payload []byte) (int, error) {
	if o := dt.out.Load(); o != nil {
		st := &dt.srtp
		if h.SSRC != b.ssrc {
			st = &dt.srtpRTX
		}
		if handled, n, err := o.WriteRTPStream(st, h, payload); handled {
			return n, err
		}
	}
	return b.writer.WriteRTP(h, payload)
}

// HoldUntil drops the track's packets until t, before the munger numbers them: the subscriber
// then sees its stream start later, never a gap.
func (dt *DownTrack) HoldUntil(t time.Time) { dt.holdUntil.Store(t.UnixNano()) }

// Sender returns the RTP sender once attached.
func (dt *DownTrack) Sender() *webrtc.RTPSender { return dt.sender.Load() }

func (dt *DownTrack) rtcpLoop(s *webrtc.RTPSender) {
	// Read and walk the compound packets in place: pion's ReadRTCP allocates a buffer and parsed
	// packets per read. Most of a connection's feedback comes through Transport's fast path
	// instead (sfu/srtpin); this reads what pion still gets (ICE-TCP, a peer's other candidates).
	buf := make([]byte, 1500)
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		dt.HandleRTCP(buf[:n])
	}
}

// HandleRTCP acts on what the compound packet asks of this downtrack: keyframe requests (PLI,
// FIR) and NACKs about its stream; the rest is left alone. It is called for every compound that
// might concern the downtrack (pion hands a sender each one that mentions its SSRC; the fast path
// shows each to all the connection's downtracks), from either path's goroutine.
func (dt *DownTrack) HandleRTCP(compound []byte) {
	b := dt.bound.Load()
	if b == nil {
		return
	}
	for rest := compound; ; {
		pkt, next, ok := nextRTCP(rest)
		if !ok {
			return
		}
		rest = next
		switch pt, format := rtcpKind(pkt); {
		case pt == rtcpPSFB && format == fmtPLI && len(pkt) >= 12 && mediaSSRC(pkt) == b.ssrc,
			pt == rtcpPSFB && format == fmtFIR && firFor(pkt, b.ssrc):
			dt.plis.Add(1)
			if dt.kind == webrtc.RTPCodecTypeVideo {
				l := int8(dt.curLayer.Load())
				if l == LayerOff {
					l = int8(dt.target.Load())
				}
				dt.track.RequestKeyframe(l)
			}
		case pt == rtcpRTPFB && format == fmtNACK && len(pkt) >= 12 && mediaSSRC(pkt) == b.ssrc:
			// Each FCI entry: a lost packet's number and a bitmask of the 16 after it. The
			// retransmission budget is one state, whichever path the NACK came by.
			now := time.Now().UnixNano()
			dt.nackMu.Lock()
			for fci := pkt[12:]; len(fci) >= 4; fci = fci[4:] {
				pid, blp := binary.BigEndian.Uint16(fci[0:2]), binary.BigEndian.Uint16(fci[2:4])
				dt.nack(pid, now)
				for i := uint16(0); i < 16; i++ {
					if blp&(1<<i) != 0 {
						dt.nack(pid+i+1, now)
					}
				}
			}
			dt.nackMu.Unlock()
		}
	}
}

// nack answers the subscriber's request for packet seq, received at now (Unix ns).
func (dt *DownTrack) nack(seq uint16, now int64) {
	dt.nacks.Add(1)
	dt.retransmit(seq, now)
}

// nackMiss is a NACKed packet that could not be sent again, and when it was first asked for.
type nackMiss struct {
	seq uint16
	at  int64 // Unix ns; 0: empty
}

// missGrace is how long a NACKed packet that cannot be answered may still turn up: a hole left by
// loss on the publisher's side is filled when the publisher's retransmission arrives, within
// its round trip.
const missGrace = 150 * time.Millisecond

// missed handles a NACK for a video packet that cannot be sent again: no longer cached, or never
// received from the publisher. The subscriber's decoder cannot go past the hole and, left alone,
// asks for a keyframe only after seconds of frozen picture (Chrome: 3 s); once the subscriber has
// asked for the packet for missGrace, the hole is not going to fill, so a keyframe is requested
// for the layer it receives.
func (dt *DownTrack) missed(seq uint16, now int64) {
	if dt.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	ms := dt.misses.Load()
	if ms == nil {
		ms = new(missState)
		dt.misses.Store(ms)
	}
	for i := range ms.ring {
		m := &ms.ring[i]
		if m.at == 0 || m.seq != seq || now-m.at > int64(10*missGrace) {
			continue
		}
		if now-m.at >= int64(missGrace) {
			m.at = 0
			ms.lostForGood.Add(1)
			if l := int8(dt.curLayer.Load()); l != LayerOff {
				dt.track.RequestKeyframe(l)
			}
		}
		return
	}
	ms.ring[ms.next] = nackMiss{seq: seq, at: now}
	ms.next = (ms.next + 1) % len(ms.ring)
}

// firFor reports whether a full intra request (RFC 5104 §4.3.1: the media SSRC field is unused,
// each FCI entry names an SSRC) asks for ssrc's stream.
func firFor(pkt []byte, ssrc uint32) bool {
	for fci := pkt[min(12, len(pkt)):]; len(fci) >= 8; fci = fci[8:] {
		if binary.BigEndian.Uint32(fci[0:4]) == ssrc {
			return true
		}
	}
	return false
}

// resender holds the buffers for resending one packet. They come from a pool for the duration of a
// resend: retransmissions are rare next to forwarding, and a downtrack holding its own would cost
// every subscriber 1.6 KB per track.
type resender struct {
	hdr  rtp.Header
	buf  [packetcache.MaxPacketSize + 2]byte
	twcc [2]byte
}

// Retransmission limits: a packet is sent again at most once per nackRepeat, and retransmissions
// take at most nackShare of what the downtrack sends (at least nackFloor bytes a second).
const (
	nackRepeat = 100 * time.Millisecond
	nackShare  = 0.2
	nackFloor  = 30_000
)

// retransmit answers a NACK from the packet cache, on the RTX stream when one was negotiated.
func (dt *DownTrack) retransmit(outSeq uint16, now int64) {
	if !dt.nackAllowed(now) {
		return
	}
	dt.histMu.Lock()
	e := &dt.sent[int(outSeq)&(len(dt.sent)-1)]
	nowMS := uint32(now/int64(time.Millisecond)) | 1 // never 0, which means "not resent"
	if !e.valid() || e.outSeq != outSeq {
		dt.histMu.Unlock()
		dt.missed(outSeq, now)
		return
	}
	if e.rtxAt != 0 && nowMS-e.rtxAt < uint32(nackRepeat/time.Millisecond) {
		dt.histMu.Unlock()
		return
	}
	e.rtxAt = nowMS
	dt.histMu.Unlock()
	n, gone := dt.resend(outSeq, false)
	if gone {
		dt.missed(outSeq, now)
	}
	if n > 0 {
		dt.retransmits.Add(1)
		dt.nackTokens -= float64(n)
	}
}

// nackAllowed refills the retransmission budget and reports whether some is left.
func (dt *DownTrack) nackAllowed(now int64) bool {
	sent := dt.bytesSent.Load()
	if dt.nackAt == 0 {
		dt.nackAt, dt.nackBytes, dt.nackTokens = now, sent, nackFloor/2
		return true
	}
	el := float64(now-dt.nackAt) / 1e9
	if el > 0.05 {
		rate := float64(sent-dt.nackBytes) / el // bytes/s sent lately
		dt.nackTokens += el * max(nackShare*rate, nackFloor)
		dt.nackTokens = min(dt.nackTokens, max(nackShare*rate, nackFloor)) // at most a second's worth
		dt.nackAt, dt.nackBytes = now, sent
	}
	return dt.nackTokens > 0
}

// SendProbe resends the most recent packet on the RTX stream, as bandwidth-probe traffic the
// subscriber discards. It returns the bytes sent (0 without RTX or nothing to resend).
func (dt *DownTrack) SendProbe() int {
	n, _ := dt.resend(uint16(dt.lastOut.Load()), true)
	return n
}

var resenders = sync.Pool{New: func() any { return new(resender) }}

// resendPadding sends padding-only packet outSeq again, on the media stream: padding carries
// nothing to retransmit, the number is what fills the subscriber's hole.
func (dt *DownTrack) resendPadding(w *resender, b *binding, outSeq uint16, ts uint32) int {
	h := &w.hdr
	h.Version, h.Padding, h.Marker, h.CSRC = 2, true, false, h.CSRC[:0]
	h.PayloadType, h.SequenceNumber, h.Timestamp, h.SSRC = b.pt, outSeq, ts, b.ssrc
	dt.stamp(h, &w.twcc, b, 1, time.Now().UnixNano())
	w.buf[0] = 1
	n, err := dt.writeRTP(b, h, w.buf[:1])
	if err != nil {
		return 0
	}
	return n
}

// resend sends an already-sent packet again (the bytes written); rtxOnly refuses to resend on the
// media stream. gone reports a packet that can no longer be sent again: it left the cache.
func (dt *DownTrack) resend(outSeq uint16, rtxOnly bool) (n int, gone bool) {
	b := dt.bound.Load()
	if b == nil {
		return 0, false
	}
	useRTX := b.rtxSSRC != 0 && b.rtxPT != 0
	if rtxOnly && !useRTX {
		return 0, false
	}
	dt.histMu.Lock()
	e := dt.sent[int(outSeq)&(len(dt.sent)-1)]
	dt.histMu.Unlock()
	if !e.valid() || e.outSeq != outSeq {
		return 0, true
	}
	w := resenders.Get().(*resender)
	defer resenders.Put(w)
	if e.padding() {
		if rtxOnly {
			return 0, false
		}
		return dt.resendPadding(w, b, outSeq, e.outTS), false
	}
	r := dt.track.Receiver(e.layer())
	if r == nil {
		return 0, true
	}
	p, ok := r.cache.Get(e.inSeq)
	if !ok {
		return 0, true
	}
	if e.hole() {
		e.outTS = p.Timestamp - e.outTS
		if p.IsPadding() || (p.HasTID && int8(p.TID) > int8(dt.allocTemporal.Load())) {
			// Nothing this subscriber is to decode: the number is filled with padding.
			if rtxOnly {
				return 0, false
			}
			return dt.resendPadding(w, b, outSeq, e.outTS), false
		}
	}
	payload := p.Payload()
	if b.stripRED || (b.packRED && b.srcRED) {
		prim, ok := codecs.REDPrimary(payload)
		if !ok {
			return 0, false
		}
		payload = prim
	}
	if b.packRED {
		// Rebuilt the same way as first sent; w.buf's tail is free for it.
		payload = packRED(w.buf[packetcache.MaxPacketSize/2:packetcache.MaxPacketSize/2], r.cache, p, payload, b.srcRED, b.innerPT)
	}
	h := &w.hdr
	h.Version = 2
	h.Padding = false
	h.CSRC = h.CSRC[:0]
	h.Marker = p.Marker
	h.Timestamp = e.outTS
	var body []byte
	if useRTX {
		// RFC 4588: the original sequence number leads the payload.
		w.buf[0], w.buf[1] = byte(outSeq>>8), byte(outSeq)
		n := copy(w.buf[2:], payload)
		if e.rewrote() {
			munger.ApplyVP8(w.buf[2:2+n], e.picDelta, e.tl0Delta)
		}
		body = w.buf[:2+n]
		h.SSRC, h.PayloadType = b.rtxSSRC, b.rtxPT
		h.SequenceNumber = uint16(dt.rtxSeq.Add(1))
	} else {
		n := copy(w.buf[:], payload)
		if e.rewrote() {
			munger.ApplyVP8(w.buf[:n], e.picDelta, e.tl0Delta)
		}
		body = w.buf[:n]
		h.SSRC, h.PayloadType = b.ssrc, b.pt
		h.SequenceNumber = outSeq
	}
	dt.stamp(h, &w.twcc, b, len(body), time.Now().UnixNano())
	n, err := dt.writeRTP(b, h, body)
	if err != nil {
		return 0, false
	}
	return n, false
}

// Stats returns packets and bytes sent, NACKs received, retransmissions and PLIs received.
func (dt *DownTrack) Stats() (packets, bytes, nacks, retransmits, plis uint64) {
	return dt.packetsSent.Load(), dt.bytesSent.Load(), dt.nacks.Load(), dt.retransmits.Load(), dt.plis.Load()
}

// LostForGood counts video packets the subscriber kept asking for that could not be sent again
// (each answered with a keyframe request).
func (dt *DownTrack) LostForGood() uint64 {
	if ms := dt.misses.Load(); ms != nil {
		return ms.lostForGood.Load()
	}
	return 0
}

// CurrentLayer is the layer the track's availability lets this subscriber have, its target (racy
// read, for statistics and tests); the layer last forwarded may still differ.
func (dt *DownTrack) CurrentLayer() int8 { return int8(dt.target.Load()) }

// Lane is the writer the downtrack is written from (Subscriber).
func (dt *DownTrack) Lane() *forwarder.Lane { return dt.lane }

// Paused reports whether the subscriber turned the track off (Subscriber).
func (dt *DownTrack) Paused() bool { return dt.paused.Load() }

// LayersChanged retargets the downtrack to the layers the publisher sends (Subscriber).
func (dt *DownTrack) LayersChanged(active [MaxLayers]bool) { dt.updateTarget(active) }

// SourceClosed ends the downtrack with its track (Subscriber).
func (dt *DownTrack) SourceClosed() { dt.sourceClosed() }

// Done is closed when the downtrack is closed.
func (dt *DownTrack) Done() <-chan struct{} { return dt.done }

// Close detaches the downtrack from its source. The caller removes the transceiver from the PeerConnection.
func (dt *DownTrack) Close() {
	if dt.closed.Swap(true) {
		return
	}
	dt.track.RemoveDownTrack(dt)
	dt.finish()
}

func (dt *DownTrack) sourceClosed() {
	if dt.closed.Swap(true) {
		return
	}
	dt.finish()
}

func (dt *DownTrack) finish() {
	dt.doneOnce.Do(func() {
		close(dt.done)
		if dt.onClose != nil {
			dt.onClose()
		}
	})
}
