package sfu

import (
	"log/slog"
	"testing"
	"time"

	"github.com/hop-meet/hop/sfu/bwe"
	"github.com/hop-meet/hop/sfu/forwarder"
)

// The fast path takes every compound packet that parses (pion's path would act on nothing more)
// and leaves the malformed ones to pion, which drops them.
func TestInboundRTCPTakesWhatParses(t *testing.T) {
	tr := &Transport{log: slog.Default(), est: bwe.New(bwe.DefaultConfig, nil)}
	tr.in.t = tr
	rr := []byte{0x80, 201, 0, 1, 0, 0, 0, 1}
	sdes := []byte{0x81, 202, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0}
	nack := []byte{0x81, rtcpRTPFB, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 0}
	pli := []byte{0x81, rtcpPSFB, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2}
	cat := func(ps ...[]byte) (b []byte) {
		for _, p := range ps {
			b = append(b, p...)
		}
		return b
	}
	for name, tc := range map[string]struct {
		b    []byte
		take bool
	}{
		"rr": {rr, true}, "rr+sdes": {cat(rr, sdes), true}, "rr+nack": {cat(rr, nack), true},
		"pli": {pli, true}, "truncated": {cat(rr, sdes[:6]), false}, "bad length": {[]byte{0x80, 201, 0, 9, 0, 0, 0, 1}, false},
	} {
		if got := tr.in.rtcp(tc.b); got != tc.take {
			t.Errorf("%s: taken %v, want %v", name, got, tc.take)
		}
	}
}

// What the fast path takes reaches the downtrack it names: a NACK is answered from the cache, a
// PLI becomes a keyframe request to the publisher; feedback about another stream is left alone.
func TestInboundRTCPReachesTheDowntrack(t *testing.T) {
	dt, w, _, pkts, plis := nackSetup(t)
	var scratch forwarder.Scratch
	now := time.Now().UnixNano()
	for i := 0; i < 4; i++ {
		dt.WritePacket(0, pkts[i], now, &scratch)
	}
	tr := &Transport{log: slog.Default(), est: bwe.New(bwe.DefaultConfig, nil)}
	tr.in.t = tr
	tr.downs.Store(&[]*DownTrack{dt})
	rr := []byte{0x80, 201, 0, 1, 0, 0, 0, 1}
	nackFor := func(ssrc uint32) []byte { // the downtrack bound as SSRC 1000; asks for packet 2
		b := append([]byte{}, rr...)
		return append(b, 0x81, rtcpRTPFB, 0, 3, 0, 0, 0, 1, byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc), 0, 2, 0, 0)
	}
	sent := len(w.sent)
	if !tr.in.rtcp(nackFor(999)) || len(w.sent) != sent {
		t.Fatalf("a NACK for another stream sent %d packets", len(w.sent)-sent)
	}
	if !tr.in.rtcp(nackFor(1000)) || len(w.sent) != sent+1 || w.last().SequenceNumber != 2 {
		t.Fatalf("NACK for 2: %d packets sent again (last %d), want packet 2", len(w.sent)-sent, w.last().SequenceNumber)
	}
	if !tr.in.rtcp([]byte{0x81, rtcpPSFB, 0, 2, 0, 0, 0, 1, 0, 0, 0x03, 0xe8}) {
		t.Fatal("PLI not taken")
	}
	expectKeyframeRequest(t, plis, 42, "the PLI")
}
