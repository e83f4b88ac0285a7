package sfu

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/packetcache"
)

// lastSeq is the sequence number of the last packet w wrote.
func (w *countingWriter) lastSeq() uint16 {
	return uint16(w.seq.Load())
}

// A held downtrack sends nothing, and when the hold ends its stream starts without a gap: held
// packets never took a sequence number.
func TestHoldUntilStartsStreamWithoutGap(t *testing.T) {
	tr, ws := benchTrack(t, 1)
	defer tr.Close()
	dt := tr.DownTracks()[0]
	tr.fwd.Remove(dt) // drive it directly
	_, pkts := vp8Packets(t, 8)
	var scratch forwarder.Scratch
	dt.HoldUntil(time.Unix(0, 1000))
	for i := 0; i < 4; i++ {
		dt.WritePacket(0, pkts[i], 500, &scratch)
	}
	if n := ws[0].n.Load(); n != 0 {
		t.Fatalf("%d packets sent during the hold", n)
	}
	// Past the hold the stream starts at the next keyframe; re-send the keyframe's packet.
	dt.WritePacket(0, pkts[0], 2000, &scratch)
	if ws[0].n.Load() != 1 {
		t.Fatalf("keyframe not sent after the hold")
	}
	first := ws[0].lastSeq()
	for i := 1; i < 4; i++ {
		dt.WritePacket(0, pkts[i], 2000, &scratch)
		if got, want := ws[0].lastSeq(), first+uint16(i); got != want {
			t.Fatalf("packet %d: sequence %d, want %d", i, got, want)
		}
	}
}

// A sender report carries the newest frame's outgoing timestamp forward along the clock from
// when that frame's first packet left, and counts packets and payload octets.
func TestSenderReportCarriesTimestampForward(t *testing.T) {
	tr, ws := benchTrack(t, 1)
	defer tr.Close()
	dt := tr.DownTracks()[0]
	tr.fwd.Remove(dt) // drive it directly
	if _, ok := dt.SenderReport(time.Now()); ok {
		t.Fatal("a report before any packet was sent")
	}
	_, pkts := vp8Packets(t, 8) // four packets a frame, 3000 ticks (1/30 s at 90 kHz) apart
	var scratch forwarder.Scratch
	base := time.Unix(1_700_000_000, 0)
	payload := 0
	for i, p := range pkts {
		// Each packet leaves 1 ms after the previous: a frame's later packets must not move the
		// reference point, which is its first packet.
		dt.WritePacket(0, p, base.Add(time.Duration(i)*time.Millisecond).UnixNano(), &scratch)
		payload += len(p.Payload())
	}
	if ws[0].n.Load() != 8 {
		t.Fatalf("%d packets sent, want 8", ws[0].n.Load())
	}
	at := base.Add(4*time.Millisecond + 500*time.Millisecond) // second frame's first packet + 0.5 s
	sr, ok := dt.SenderReport(at)
	if !ok {
		t.Fatal("no report after packets were sent")
	}
	first, _ := dt.SenderReport(base.Add(4 * time.Millisecond))
	if got := sr.RTPTime - first.RTPTime; got != 45000 {
		t.Errorf("0.5 s later the RTP time moved %d ticks, want 45000", got)
	}
	if sr.PacketCount != 8 {
		t.Errorf("packet count %d, want 8", sr.PacketCount)
	}
	if int(sr.OctetCount) != payload {
		t.Errorf("octet count %d, want %d payload octets", sr.OctetCount, payload)
	}
	if got := time.Unix(int64(sr.NTPTime>>32)-2_208_988_800, int64((sr.NTPTime&0xffffffff)*1e9>>32)); got.Sub(at).Abs() > time.Microsecond {
		t.Errorf("NTP time %v, want %v", got, at)
	}
}

// NACKs: a sent packet is sent again; a padding packet that filled a hole is sent again as
// padding; a hole (a packet the writer never got) is sent from the cache with the timestamp it
// would have had. A packet the cache no longer has is not answered at first (a publisher's
// retransmission may still fill it), but once the subscriber has kept asking for it for missGrace,
// a keyframe is requested for the layer it receives.
// nackSetup makes a VP8 track whose layer 0 is cached in cache (pkts: a keyframe and delta frames),
// and a bound downtrack writing to w; plis hears the keyframe requests sent to the publisher.
func nackSetup(t *testing.T) (dt *DownTrack, w *recordingWriter, cache *packetcache.Cache, pkts []*packetcache.Packet, plis chan uint32) {
	t.Helper()
	plis = make(chan uint32, 4)
	tr := NewTrack(TrackParams{ID: "TR_nack", PublisherID: "PA_nack", Kind: webrtc.RTPCodecTypeVideo, PLIThrottle: time.Nanosecond,
		WriteRTCP: func(pkts []rtcp.Packet) error {
			for _, p := range pkts {
				if pli, ok := p.(*rtcp.PictureLossIndication); ok {
					plis <- pli.MediaSSRC
				}
			}
			return nil
		}})
	c := vp8
	tr.codec.Store(&c)
	tr.codecKind.Store(uint32(codecs.VP8))
	cache, pkts = vp8Packets(t, 8)
	tr.receivers[0].Store(&Receiver{track: tr, layer: 0, ssrc: 42, cache: cache})
	t.Cleanup(func() {
		tr.receivers[0].Store(nil) // not a running receiver: nothing to stop
		tr.Close()
	})
	w = &recordingWriter{}
	dt = NewDownTrack(DownTrackParams{Track: tr, SubscriberID: "s", StreamID: "s", DesiredLayer: 0})
	if _, err := dt.Bind(&fakeBind{codecs: []webrtc.RTPCodecParameters{vp8}, w: w, ssrc: 1000}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-plis: // a new binding starts with a keyframe
	case <-time.After(5 * time.Second):
		t.Fatal("no keyframe request at binding")
	}
	return dt, w, cache, pkts, plis
}

// A hole whose packet belongs to a temporal layer the subscriber does not get is filled with
// padding when NACKed, never with the packet.
func TestNACKHoleOfDroppedTemporalLayer(t *testing.T) {
	dt, w, _, pkts, _ := nackSetup(t)
	dt.allocTemporal.Store(1)
	pkts[4].HasTID, pkts[4].TID = true, 2
	var scratch forwarder.Scratch
	now := time.Now().UnixNano()
	for _, i := range []int{0, 1, 2, 3, 5} { // the writer misses 4
		dt.WritePacket(0, pkts[i], now, &scratch)
	}
	sent := len(w.sent)
	dt.nack(4, now)
	if len(w.sent) != sent+1 {
		t.Fatalf("%d packets sent for the NACK, want 1", len(w.sent)-sent)
	}
	if h := w.last(); h.SequenceNumber != 4 || !h.Padding {
		t.Fatalf("sent %d (padding %v), want padding numbered 4", h.SequenceNumber, h.Padding)
	}
}

func TestNACKAnswersAndLostForGood(t *testing.T) {
	dt, w, cache, pkts, plis := nackSetup(t)
	var scratch forwarder.Scratch
	now := time.Now().UnixNano()
	for i := 0; i < 4; i++ {
		dt.WritePacket(0, pkts[i], now, &scratch)
	}
	// The writer never gets packet 4 (it is in the cache); 5 arrives as padding, 6 and 7 as media.
	pad := *pkts[5]
	pad.PayloadEnd = pad.PayloadStart
	dt.WritePacket(0, &pad, now, &scratch)
	if last := w.last(); len(w.sent) != 5 || last.SequenceNumber != 5 || !last.Padding {
		t.Fatalf("after the padding: %d packets, last %+v; want 5 packets, padding numbered 5", len(w.sent), last)
	}
	dt.WritePacket(0, pkts[6], now, &scratch)
	dt.WritePacket(0, pkts[7], now, &scratch)

	sent := len(w.sent)
	resent := func(nack uint16, at int64, seq uint16, ts uint32, padding bool) {
		t.Helper()
		dt.nack(nack, at)
		if len(w.sent) != sent+1 {
			t.Fatalf("NACK %d: %d packets sent again, want 1", nack, len(w.sent)-sent)
		}
		sent++
		if h := w.last(); h.SequenceNumber != seq || h.Timestamp != ts || h.Padding != padding {
			t.Fatalf("NACK %d: sent %d (timestamp %d, padding %v), want %d (%d, %v)", nack, h.SequenceNumber, h.Timestamp, h.Padding, seq, ts, padding)
		}
	}
	resent(1, now, 1, pkts[1].Timestamp, false)
	resent(5, now, 5, pkts[5].Timestamp, true)
	resent(4, now, 4, pkts[4].Timestamp, false)

	// Packet 4 leaves the cache: NACKs for it can no longer be answered.
	evict(t, cache, 4+videoCacheSize)
	ms := int64(time.Millisecond)
	for _, at := range []int64{200 * ms, 250 * ms, 300 * ms} {
		dt.nack(4, now+at)
	}
	if dt.LostForGood() != 0 {
		t.Fatalf("lost for good %d before the grace ended", dt.LostForGood())
	}
	dt.nack(4, now+400*ms)
	expectKeyframeRequest(t, plis, 42, "a packet gone for good")
	if dt.LostForGood() != 1 {
		t.Fatalf("lost for good %d, want 1", dt.LostForGood())
	}
	if len(w.sent) != sent {
		t.Fatalf("%d packets sent for NACKs of a packet no longer cached", len(w.sent)-sent)
	}
}

// recordingWriter keeps the headers written (one goroutine at a time).
type recordingWriter struct {
	mu   sync.Mutex
	sent []rtp.Header
}

func (w *recordingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := *h
	c.Extensions = nil
	w.sent = append(w.sent, c)
	return h.MarshalSize() + len(payload), nil
}

func (w *recordingWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w *recordingWriter) last() rtp.Header {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.sent) == 0 {
		return rtp.Header{}
	}
	return w.sent[len(w.sent)-1]
}

// evict stores a packet numbered seq in cache, taking the slot of the packet a cache length before.
func evict(t *testing.T, cache *packetcache.Cache, seq int) {
	t.Helper()
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(seq), SSRC: 42}
	raw := make([]byte, 100)
	hl, _ := h.MarshalTo(raw)
	if _, err := cache.Put(raw, &h, hl, 0); err != nil {
		t.Fatal(err)
	}
}

// expectKeyframeRequest waits for the keyframe request that what should have brought, and checks
// it went to the publisher's stream ssrc.
func expectKeyframeRequest(t *testing.T, plis <-chan uint32, ssrc uint32, what string) {
	t.Helper()
	select {
	case got := <-plis:
		if got != ssrc {
			t.Fatalf("keyframe requested from SSRC %d for %s, want %d", got, what, ssrc)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no keyframe request for %s", what)
	}
}
