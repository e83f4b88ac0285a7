package sfu

import (
	"log/slog"
	"testing"

	"github.com/hop-meet/hop/sfu/bwe"
)

// The reader takes the feedback only the estimator and the interceptors read, and leaves to pion
// every compound packet a downtrack must answer (NACK, PLI, FIR) or that is not RTCP it knows.
func TestInboundRTCPLeavesWhatDowntracksAnswer(t *testing.T) {
	tr := &Transport{log: slog.Default(), est: bwe.New(bwe.DefaultConfig, nil)}
	tr.in.t = tr
	rr := []byte{0x80, rtcpRR, 0, 1, 0, 0, 0, 1}
	sdes := []byte{0x81, rtcpSDES, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0}
	nack := []byte{0x81, rtcpRTPFB, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 0}
	pli := []byte{0x81, rtcpPSFB, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2}
	bye := []byte{0x81, 203, 0, 1, 0, 0, 0, 1}
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
		"rr": {rr, true}, "rr+sdes": {cat(rr, sdes), true},
		"rr+nack": {cat(rr, nack), false}, "pli": {pli, false}, "rr+sdes+pli": {cat(rr, sdes, pli), false},
		"bye": {bye, false}, "truncated": {cat(rr, sdes[:6]), false},
	} {
		if got := tr.in.rtcp(tc.b); got != tc.take {
			t.Errorf("%s: taken %v, want %v", name, got, tc.take)
		}
	}
}
