package bwe

import (
	"math/rand"
	"reflect"
	"testing"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// testNowUS is when the tests' feedback arrives: a few seconds after their packets were sent.
const testNowUS = 5_000_000

// pionResults reads feedback with pion's parser: the reference parseFeedback must agree with.
func pionResults(fb *rtcp.TransportLayerCC, h *History) []packetResult {
	var out []packetResult
	seq := fb.BaseSequenceNumber
	arrival := int64(fb.ReferenceTime) * refTimeUS
	di := 0
	remaining := int(fb.PacketStatusCount)
	add := func(status uint16) {
		if remaining <= 0 {
			return
		}
		remaining--
		r := packetResult{}
		if status == rtcp.TypeTCCPacketReceivedSmallDelta || status == rtcp.TypeTCCPacketReceivedLargeDelta {
			if di < len(fb.RecvDeltas) {
				arrival += fb.RecvDeltas[di].Delta
				di++
			}
			r.received, r.arrivalUS = true, arrival
		}
		if us, size, cluster, ok := h.lookup(seq, testNowUS); ok {
			r.sendUS, r.size, r.cluster = us, size, cluster
			out = append(out, r)
		}
		seq++
	}
	for _, c := range fb.PacketChunks {
		switch ch := c.(type) {
		case *rtcp.RunLengthChunk:
			for i := 0; i < int(ch.RunLength); i++ {
				add(ch.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range ch.SymbolList {
				if ch.SymbolSize == rtcp.TypeTCCSymbolSizeOneBit && s == 1 {
					s = rtcp.TypeTCCPacketReceivedSmallDelta
				}
				add(s)
			}
		}
	}
	return out
}

// history records n packets starting at transport-wide sequence number 0.
func history(n int) *History {
	h := &History{}
	for i := 0; i < n; i++ {
		h.Record(100+i%1100, int64(i)*1_000_000)
	}
	return h
}

// TestParseFeedbackMatchesPion builds feedback the way a receiver does (pion's recorder: run-length
// and both status-vector chunk kinds, small and large deltas, losses) and checks the allocation-free
// parser reads it exactly as pion's does.
func TestParseFeedbackMatchesPion(t *testing.T) {
	h := history(historySize)
	rng := rand.New(rand.NewSource(7))
	rec := twcc.NewRecorder(1)
	arrivalUS := int64(1_000_000)
	var buf []packetResult
	checked := 0
	for seq := 0; seq < 1500; seq++ {
		switch r := rng.Intn(20); {
		case r < 2: // lost
		case r < 3: // late: a large (here negative) delta
			rec.Record(1, uint16(seq), arrivalUS-30_000)
		default:
			arrivalUS += int64(rng.Intn(40_000))
			rec.Record(1, uint16(seq), arrivalUS)
		}
		if seq%37 != 36 {
			continue
		}
		for _, p := range rec.BuildFeedbackPacket() {
			fb, ok := p.(*rtcp.TransportLayerCC)
			if !ok {
				continue
			}
			raw, err := fb.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var parsed rtcp.TransportLayerCC
			if err := parsed.Unmarshal(raw); err != nil {
				t.Fatal(err)
			}
			want := pionResults(&parsed, h)
			buf, err = parseFeedback(raw, h, testNowUS, buf[:0])
			if err != nil {
				t.Fatalf("feedback at %d: %v", seq, err)
			}
			if len(want) == 0 || !reflect.DeepEqual(buf, want) {
				t.Fatalf("feedback at %d: got %d results %v, pion %d %v", seq, len(buf), buf, len(want), want)
			}
			checked += len(want)
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d packets' results compared", checked)
	}
}

// feedback100 is a receiver's feedback on packets 0-99, every lossEvery-th of them lost.
func feedback100(tb testing.TB, lossEvery int) []byte {
	tb.Helper()
	rec := twcc.NewRecorder(1)
	for seq := 0; seq < 100; seq++ {
		if seq%lossEvery != 4 {
			rec.Record(1, uint16(seq), int64(seq)*3000)
		}
	}
	raw, err := rec.BuildFeedbackPacket()[0].Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// TestParseFeedbackAllocatesNothing: with a grown buffer, reading feedback allocates nothing.
func TestParseFeedbackAllocatesNothing(t *testing.T) {
	h := history(200)
	raw := feedback100(t, 9)
	var err error
	buf := make([]packetResult, 0, 128)
	if n := testing.AllocsPerRun(100, func() {
		buf, err = parseFeedback(raw, h, testNowUS, buf[:0])
	}); n != 0 || err != nil || len(buf) != 100 {
		t.Fatalf("%v allocs, err %v, %d results", n, err, len(buf))
	}
}

// FuzzParseFeedback feeds arbitrary packets: no panic, and whatever pion's parser accepts is read
// the same way.
func FuzzParseFeedback(f *testing.F) {
	rec := twcc.NewRecorder(1)
	for seq := 0; seq < 40; seq++ {
		if seq%5 != 0 {
			rec.Record(1, uint16(seq), int64(seq)*(1000+int64(seq%3)*70_000))
		}
	}
	for _, p := range rec.BuildFeedbackPacket() {
		if raw, err := p.Marshal(); err == nil {
			f.Add(raw)
		}
	}
	h := history(historySize)
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := parseFeedback(raw, h, testNowUS, nil)
		var fb rtcp.TransportLayerCC
		if fb.Unmarshal(raw) != nil || raw[0]&0x20 != 0 {
			return // pion refuses it (or strips padding its own way): only "no panic" holds
		}
		if err != nil {
			t.Fatalf("pion reads it, parseFeedback says %v", err)
		}
		if want := pionResults(&fb, h); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, pion %v", got, want)
		}
	})
}

// BenchmarkFeedback reads one feedback packet reporting 100 packets (9 of them lost), as a
// subscriber sends every 50-100 ms: into the estimator's reused buffer, and, for comparison, through
// pion's parser and the per-packet expansion it replaced.
func BenchmarkFeedback(b *testing.B) {
	h := history(200)
	raw := feedback100(b, 11)
	b.Run("parser=hop", func(b *testing.B) {
		buf := make([]packetResult, 0, 128)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			buf, _ = parseFeedback(raw, h, testNowUS, buf[:0])
		}
	})
	b.Run("parser=pion", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var fb rtcp.TransportLayerCC
			if err := fb.Unmarshal(raw); err != nil {
				b.Fatal(err)
			}
			_ = pionResults(&fb, h)
		}
	})
}
