package sfu

import (
	"log/slog"
	"testing"

	"github.com/hop-meet/hop/sfu/bwe"
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
