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
