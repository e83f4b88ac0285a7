package sfu

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/forwarder"
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
// padding; a packet never received from the publisher is not answered at first (the publisher's
// retransmission may still fill the hole), but once the subscriber has kept asking for it for
// missGrace, a keyframe is requested for the layer it receives.
func TestNACKAnswersAndLostForGood(t *testing.T) {
	plis := make(chan uint32, 4)
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
	cache, pkts := vp8Packets(t, 8)
	tr.receivers[0].Store(&Receiver{track: tr, layer: 0, ssrc: 42, cache: cache})
	defer func() {
		tr.receivers[0].Store(nil) // not a running receiver: nothing to stop
		tr.Close()
	}()
	w := &countingWriter{progress: make(chan struct{}, 1)}
	dt := NewDownTrack(DownTrackParams{Track: tr, SubscriberID: "s", StreamID: "s", DesiredLayer: 0})
	if _, err := dt.Bind(&fakeBind{codecs: []webrtc.RTPCodecParameters{vp8}, w: w, ssrc: 1000}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-plis: // a new binding starts with a keyframe
	case <-time.After(5 * time.Second):
		t.Fatal("no keyframe request at binding")
	}
	var scratch forwarder.Scratch
	now := time.Now().UnixNano()
	for i := 0; i < 4; i++ {
		dt.WritePacket(0, pkts[i], now, &scratch)
	}
	// Packet 4 is lost on the way from the publisher; 5 arrives as padding, 6 and 7 as media.
	pad := *pkts[5]
	pad.PayloadEnd = pad.PayloadStart
	dt.WritePacket(0, &pad, now, &scratch)
	if got := w.lastSeq(); got != 5 || w.n.Load() != 5 {
		t.Fatalf("after the padding: %d packets, last %d; want 5 packets, padding numbered 5", w.n.Load(), got)
	}
	dt.WritePacket(0, pkts[6], now, &scratch)
	dt.WritePacket(0, pkts[7], now, &scratch)

	sent := w.n.Load()
	dt.nack(1, now)
	if w.n.Load() != sent+1 || w.lastSeq() != 1 {
		t.Fatalf("NACK 1: %d packets sent again, last %d", w.n.Load()-sent, w.lastSeq())
	}
	dt.nack(5, now)
	if w.n.Load() != sent+2 || w.lastSeq() != 5 {
		t.Fatalf("NACK of the padding: %d packets sent again, last %d", w.n.Load()-sent, w.lastSeq())
	}

	ms := int64(time.Millisecond)
	for _, at := range []int64{0, 50 * ms, 100 * ms} {
		dt.nack(4, now+at)
	}
	select {
	case ssrc := <-plis:
		t.Fatalf("keyframe requested (SSRC %d) within the grace for a packet that may still come", ssrc)
	default:
	}
	if dt.LostForGood() != 0 {
		t.Fatalf("lost for good %d before the grace ended", dt.LostForGood())
	}
	dt.nack(4, now+int64(missGrace)+ms)
	select {
	case ssrc := <-plis:
		if ssrc != 42 {
			t.Fatalf("keyframe requested from SSRC %d, want the received layer's 42", ssrc)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no keyframe request for a packet gone for good")
	}
	if dt.LostForGood() != 1 {
		t.Fatalf("lost for good %d, want 1", dt.LostForGood())
	}
	if w.n.Load() != sent+2 {
		t.Fatalf("%d packets sent for NACKs, want 2", w.n.Load()-sent)
	}
}
