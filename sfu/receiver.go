package sfu

import (
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/nackgen"
	"github.com/hop-meet/hop/sfu/packetcache"
)

// levelScale turns linear audio power (0..1) into integers that can be summed atomically.
const levelScale = 1 << 20

// levelPower maps an RFC 6464 level (-dBov) to scaled linear power, so the hot path only adds.
var levelPower = func() (t [128]uint64) {
	for i := range t {
		t[i] = uint64(math.Pow(10, -float64(i)/10) * levelScale)
	}
	return t
}()

// Cache sizes. A cache answers NACKs, which are worth answering for a round trip or two (a receiver's
// jitter buffer gives up on a packet well within a second), and each slot is a full-size packet
// whether it holds 1200 bytes or 100, resident once written. The top video layer keeps 512 packets:
// about two seconds of 720p at 2.5 Mbit/s, a second of 1080p at 5; lower layers send a quarter and
// a sixteenth of its packets and keep 256, seconds more. Opus at 50 packets a second keeps five
// seconds. No cache may be smaller than twice forwarder.QueueSize (see packetcache). With 1024
// slots for the top layer and 512 for the middle one, four publishers' caches were 0.16 MB more
// of each of 30 subscribers' share of the node's memory in the end-to-end run.
const (
	videoCacheSize      = 512
	lowerLayerCacheSize = 256
	audioCacheSize      = 256
)

// cacheSize is the packet cache for a stream: rid is empty unless it is a simulcast layer.
func cacheSize(kind webrtc.RTPCodecType, rid string, layer int8) int {
	switch {
	case kind == webrtc.RTPCodecTypeAudio:
		return audioCacheSize
	case rid == "" || layer >= MaxLayers-1:
		return videoCacheSize
	}
	return lowerLayerCacheSize
}

// Receiver reads one RTP stream (a track, or one simulcast layer of it) from the publisher, stores
// each packet in the packet cache and hands it to the track's forwarder.
type Receiver struct {
	track   *Track
	layer   int8
	remote  *webrtc.TrackRemote
	rtpRecv *webrtc.RTPReceiver
	ssrc    uint32
	cache   *packetcache.Cache

	audioLevelID uint8

	lastPacket atomic.Int64
	packets    atomic.Uint64
	bytes      atomic.Uint64
	// bytesByTID counts bytes per temporal layer, for the per-layer bitrates allocation needs.
	bytesByTID [4]atomic.Uint64
	// levelSum accumulates the audio power of packets (linear, scaled by levelScale), levelCount
	// how many; the speaker detector takes and resets them.
	levelSum   atomic.Uint64
	levelCount atomic.Uint64
	// Loss accounting: highest sequence number seen (extended) and packets expected vs received.
	started    bool
	baseSeq    uint32
	highestSeq uint32
	lost       atomic.Int64
	// nack decides which lost packets to ask the publisher for again, as packets arrive (when
	// the stream negotiated NACK); nackBuf takes its answer.
	nackOn  bool
	nack    nackgen.Generator
	nackBuf [nackgen.MaxMissing]uint16

	// clock is the publisher's last sender report for this stream (see Track.SenderClock).
	clock atomic.Pointer[senderClock]

	closeOnce sync.Once
	closing   atomic.Bool
	ended     atomic.Bool
	done      chan struct{}

	// The publisher's connection, when it is a Transport's (nil in benchmarks), and this
	// stream's place in it: whether srtpin delivers the stream (and its retransmission stream,
	// rtx) instead of pion, and then the chain of the connection's interceptors its packets go
	// through (pion's path has its own).
	in *inbound
	// pmu serialises packets: around the switch to srtpin, pion's path and srtpin's may both
	// deliver one.
	pmu      sync.Mutex
	chain    interceptor.RTPReader
	info     *interceptor.StreamInfo
	attrs    interceptor.Attributes
	direct   bool
	rtx      rtxStream
	pt       uint8
	untilRTX int // packets until the next look for a retransmission stream
	hdr      rtp.Header
	video    bool
}

// rtxStream is a receiver's retransmission stream (RFC 4588), taken from pion with the main one:
// pion hands retransmissions out only from inside a read of the main stream, which never returns
// once srtpin has the main stream.
type rtxStream struct {
	r     *Receiver
	ssrc  uint32
	chain interceptor.RTPReader
	info  *interceptor.StreamInfo
}

func newReceiver(t *Track, remote *webrtc.TrackRemote, rr *webrtc.RTPReceiver, layer int8) *Receiver {
	size := cacheSize(remote.Kind(), remote.RID(), layer)
	r := &Receiver{
		track:   t,
		layer:   layer,
		remote:  remote,
		rtpRecv: rr,
		ssrc:    uint32(remote.SSRC()),
		cache:   packetcache.New(size),
		done:    make(chan struct{}),
	}
	if rr != nil {
		for _, ext := range rr.GetParameters().HeaderExtensions {
			if ext.URI == sdp.AudioLevelURI {
				r.audioLevelID = uint8(ext.ID)
			}
		}
	}
	r.rtx.r = r
	r.pt = uint8(remote.PayloadType())
	r.video = remote.Kind() == webrtc.RTPCodecTypeVideo
	for _, fb := range remote.Codec().RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			r.nackOn = true
		}
	}
	r.in = inboundOf(rr)
	r.attrs = interceptor.Attributes{}
	if r.in != nil {
		r.in.addSender(r)
	}
	return r
}

// Layer is the simulcast layer this receiver reads.
func (r *Receiver) Layer() int8 { return r.layer }

// SSRC is the publisher's SSRC of this stream.
func (r *Receiver) SSRC() uint32 { return r.ssrc }

// Cache is the stream's packet cache.
func (r *Receiver) Cache() *packetcache.Cache { return r.cache }

// Stats returns packets and bytes received and packets lost so far.
func (r *Receiver) Stats() (packets, bytes uint64, lost int64) {
	return r.packets.Load(), r.bytes.Load(), r.lost.Load()
}

func (r *Receiver) start() {
	go r.readLoop()
	if r.rtpRecv != nil {
		go r.rtcpLoop()
	}
}

// rtcpLoop drains the RTCP pion routes to this stream. Nothing here needs it, but reading is what
// moves it through the connection's interceptors: a subscriber that is also publishing (one
// PeerConnection) may address its transport-wide feedback to this stream's SSRC, and that feedback
// is what the bandwidth estimator lives on.
func (r *Receiver) rtcpLoop() {
	rid := r.remote.RID()
	for {
		var err error
		if rid != "" {
			_, _, err = r.rtpRecv.ReadSimulcastRTCP(rid)
		} else {
			_, _, err = r.rtpRecv.ReadRTCP()
		}
		if err != nil {
			return
		}
	}
}

func (r *Receiver) close() {
	r.closing.Store(true)
	r.closeOnce.Do(func() {
		// Unblock the read: pion returns io.EOF once the receiver is stopped; a past deadline is
		// enough when only this layer goes away.
		_ = r.remote.SetReadDeadline(time.Unix(1, 0))
	})
}

func (r *Receiver) wait() {
	select {
	case <-r.done:
	case <-time.After(2 * time.Second):
		r.track.log.Warn("receiver did not stop in time", "layer", r.layer)
	}
}

func (r *Receiver) readLoop() {
	defer close(r.done)
	defer func() {
		r.ended.Store(true)
		r.release()
		if !r.closing.Load() {
			r.track.receiverEnded()
		}
	}()
	buf := make([]byte, packetcache.MaxPacketSize)
	for {
		n, _, err := r.remote.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !isTimeout(err) {
				r.track.log.Debug("publisher stream ended", "layer", r.layer, "err", err)
			}
			return
		}
		// pion's interceptors have seen it on the way.
		r.pmu.Lock()
		r.store(buf[:n], nil)
		if r.in != nil {
			r.takeOver()
		}
		r.pmu.Unlock()
	}
}

// HandleRTP takes one decrypted packet of the stream from srtpin, on the socket's reader: shown
// to the connection's interceptors, then stored and staged for the writers.
func (r *Receiver) HandleRTP(pkt []byte) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if r.chain != nil {
		clear(r.attrs)
		_, _, _ = r.chain.Read(pkt, r.attrs)
	}
	r.store(pkt, r.in.t.p.Engine.stage)
	r.takeOver() // for the retransmission stream
}

// takeOver has srtpin deliver the stream, and its retransmission stream once pion knows it.
// r.pmu is held.
func (r *Receiver) takeOver() {
	if !r.direct {
		if r.closing.Load() || !r.in.in.Started() {
			return
		}
		r.info = streamInfo(r.remote, r.rtpRecv, r.ssrc, false)
		r.chain = r.in.bind(r.info)
		r.direct = r.in.in.Add(r.ssrc, r.highestSeq>>16, r)
	}
	if r.rtx.ssrc != 0 || !r.video {
		return
	}
	if r.untilRTX--; r.untilRTX > 0 {
		return
	}
	r.untilRTX = 64 // pion may learn the SSRC late (simulcast: from the first retransmission)
	ssrc := uint32(r.remote.RtxSSRC())
	if ssrc == 0 {
		return
	}
	info := streamInfo(r.remote, r.rtpRecv, ssrc, true)
	r.rtx.ssrc, r.rtx.chain, r.rtx.info = ssrc, r.in.bind(info), info
	r.in.in.Add(ssrc, 0, &r.rtx)
}

// release gives the streams back to pion and leaves the interceptors.
func (r *Receiver) release() {
	if r.in == nil {
		return
	}
	r.in.removeSender(r)
	r.pmu.Lock()
	defer r.pmu.Unlock()
	r.in.in.Remove(r.ssrc)
	if r.info != nil {
		r.in.unbind(r.info)
	}
	if r.rtx.ssrc != 0 {
		r.in.in.Remove(r.rtx.ssrc)
		r.in.unbind(r.rtx.info)
	}
	r.chain, r.rtx.chain = nil, nil
	r.direct = false
}

// HandleRTP takes a retransmission: shown to the interceptors as what arrived (for the
// transport-wide feedback on it), then stored as the original packet it carries. A packet with
// no original (padding a sender probes the path with) ends there.
func (x *rtxStream) HandleRTP(pkt []byte) {
	r := x.r
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if x.chain != nil {
		clear(r.attrs)
		_, _, _ = x.chain.Read(pkt, r.attrs)
	}
	hl := rtpHeaderLen(pkt)
	end := len(pkt)
	if hl < 0 {
		return
	}
	if pkt[0]&0x20 != 0 { // padding
		end -= int(pkt[end-1])
	}
	if end-hl < 2 {
		return
	}
	// The original sequence number leads the payload; the header takes the main stream's.
	pkt[2], pkt[3] = pkt[hl], pkt[hl+1]
	pkt[1] = pkt[1]&0x80 | r.pt&0x7f
	pkt[8], pkt[9], pkt[10], pkt[11] = byte(r.ssrc>>24), byte(r.ssrc>>16), byte(r.ssrc>>8), byte(r.ssrc)
	copy(pkt[hl:], pkt[hl+2:])
	pkt = pkt[:len(pkt)-2]
	r.store(pkt, r.in.t.p.Engine.stage)
}

// rtpHeaderLen is the length of pkt's RTP header with its CSRCs and extension, or -1.
func rtpHeaderLen(pkt []byte) int {
	if len(pkt) < 12 {
		return -1
	}
	n := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 {
		if len(pkt) < n+4 {
			return -1
		}
		n += 4 + 4*(int(pkt[n+2])<<8|int(pkt[n+3]))
	}
	if n > len(pkt) {
		return -1
	}
	return n
}

// store puts a packet in the cache and hands it to the forwarder, through st if set. r.pmu is
// held.
func (r *Receiver) store(pkt []byte, st *forwarder.Stage) {
	h := &r.hdr
	n := len(pkt)
	hl, err := h.Unmarshal(pkt)
	if err != nil {
		return // not RTP we can use; the stream goes on
	}
	now := time.Now().UnixNano()
	p, err := r.cache.Put(pkt, h, hl, now)
	if err != nil {
		return
	}
	r.account(h.SequenceNumber, n)
	if r.nackOn {
		if seqs := r.nack.Push(h.SequenceNumber, now, r.nackBuf[:0]); len(seqs) > 0 {
			r.track.requestNACK(r.ssrc, seqs)
		}
	}
	kind := r.track.kindOf()
	if r.video {
		payload := p.Payload()
		switch kind {
		case codecs.VP8:
			if d, ok := codecs.ParseVP8(payload); ok {
				p.Keyframe = d.IsKeyframe
				p.FrameStart = d.Start
				p.TID = d.TID & 3
				p.HasTID = d.TIDPresent
				p.LayerSync = d.LayerSync
			}
		default:
			p.Keyframe = codecs.IsKeyframeStart(kind, payload)
		}
	} else if r.audioLevelID != 0 {
		if ext := h.GetExtension(r.audioLevelID); len(ext) > 0 {
			p.AudioLevel = ext[0] & 0x7f
			p.AudioLevelOK = true
			r.levelSum.Add(levelPower[p.AudioLevel])
			r.levelCount.Add(1)
		}
	}
	r.bytesByTID[p.TID].Add(uint64(n))
	r.lastPacket.Store(now)
	r.track.packetArrived()
	if st != nil {
		r.track.fwd.DispatchStaged(st, r.layer, p)
	} else {
		r.track.fwd.Dispatch(r.layer, p)
	}
}

// account keeps received/lost counters from sequence numbers (RFC 3550 A.3 style).
func (r *Receiver) account(seq uint16, size int) {
	r.packets.Add(1)
	r.bytes.Add(uint64(size))
	if !r.started {
		r.started = true
		r.baseSeq = uint32(seq)
		r.highestSeq = uint32(seq)
		return
	}
	hi := uint16(r.highestSeq)
	if d := seq - hi; d != 0 && d < 0x8000 {
		ext := r.highestSeq + uint32(d)
		if d > 1 {
			r.lost.Add(int64(d - 1))
		}
		r.highestSeq = ext
	} else if d != 0 {
		// A late packet fills a gap counted as lost.
		if r.lost.Load() > 0 {
			r.lost.Add(-1)
		}
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
