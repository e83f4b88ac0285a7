package sfu

import (
	"testing"
	"time"

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
