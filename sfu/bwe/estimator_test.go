package bwe

import (
	"math/rand"
	"testing"
	"time"

	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// link is a simulated bottleneck: a FIFO queue drained at rate bits/s, dropping what would wait
// longer than maxQueue, plus random loss.
type link struct {
	rate     float64
	maxQueue time.Duration
	loss     float64
	busyTill int64 // ns when the queue empties
	rng      *rand.Rand
}

// send returns the packet's arrival time (ns), or false if it was dropped.
func (l *link) send(at int64, size int) (int64, bool) {
	if l.rng.Float64() < l.loss {
		return 0, false
	}
	start := at
	if l.busyTill > start {
		start = l.busyTill
	}
	if time.Duration(start-at) > l.maxQueue {
		return 0, false
	}
	l.busyTill = start + int64(float64(size*8)/l.rate*1e9)
	return l.busyTill + int64(20*time.Millisecond), true // plus propagation
}

type arrival struct {
	seq uint16
	at  int64
}

// sim drives an estimator: media at min(demand, estimate), probes when the demand is higher,
// feedback every 50 ms. It returns the estimate over time.
type sim struct {
	t        *testing.T
	e        *Estimator
	l        *link
	now      int64
	rec      *twcc.Recorder
	pending  []arrival
	lastFb   int64
	demand   float64 // what the subscriber would take, bits/s
	probeEnd int64
	probeID  uint16
	probeTo  uint64
}

func newSim(t *testing.T, l *link, demand float64) *sim {
	return &sim{t: t, e: New(DefaultConfig, nil), l: l, rec: twcc.NewRecorder(1), demand: demand}
}

// run advances the simulation by d in 1 ms steps.
func (s *sim) run(d time.Duration) {
	end := s.now + int64(d)
	const step = int64(time.Millisecond)
	var credit float64 // bits allowed to send
	for ; s.now < end; s.now += step {
		rate := float64(s.e.Estimate())
		if rate > s.demand {
			rate = s.demand
		}
		if s.probeID != 0 {
			if s.now < s.probeEnd {
				rate = float64(s.probeTo)
			} else {
				s.e.EndProbe(s.probeID)
				s.probeID = 0
			}
		} else if s.demand > float64(s.e.Estimate())*1.1 {
			if id, dur, ok := s.e.StartProbe(uint64(min(s.demand, 2*float64(s.e.Estimate()))), time.Unix(0, s.now)); ok {
				s.probeID, s.probeEnd, s.probeTo = id, s.now+int64(dur), uint64(min(s.demand, 2*float64(s.e.Estimate())))
			}
		}
		credit += rate / 1000
		for credit >= 1200*8 {
			credit -= 1200 * 8
			seq := s.e.History().Record(1200, s.now)
			if at, ok := s.l.send(s.now, 1200); ok {
				s.pending = append(s.pending, arrival{seq, at})
			}
		}
		// Deliver arrivals up to now to the receiver's recorder; feedback every 50 ms.
		kept := s.pending[:0]
		for _, a := range s.pending {
			if a.at <= s.now {
				s.rec.Record(1, a.seq, a.at/1000)
			} else {
				kept = append(kept, a)
			}
		}
		s.pending = kept
		if s.now-s.lastFb >= int64(50*time.Millisecond) {
			s.lastFb = s.now
			for _, p := range s.rec.BuildFeedbackPacket() {
				if fb, ok := p.(*rtcp.TransportLayerCC); ok {
					b, err := fb.Marshal()
					if err != nil {
						s.t.Fatal(err)
					}
					if err := s.e.OnTWCC(b, time.Unix(0, s.now+int64(20*time.Millisecond))); err != nil {
						s.t.Fatal(err)
					}
				}
			}
		}
	}
}

func TestEstimateFollowsABottleneck(t *testing.T) {
	l := &link{rate: 500_000, maxQueue: 300 * time.Millisecond, rng: rand.New(rand.NewSource(1))}
	s := newSim(t, l, 3_000_000)
	s.run(3 * time.Second)
	if est := s.e.Estimate(); est > 600_000 || est < 250_000 {
		t.Fatalf("after 3 s behind a 500 kbit/s bottleneck the estimate is %d", est)
	}
	// It stays near the bottleneck rather than oscillating wildly.
	for i := 0; i < 10; i++ {
		s.run(500 * time.Millisecond)
		if est := s.e.Estimate(); est > 750_000 || est < 200_000 {
			t.Fatalf("at %.1f s the estimate is %d behind 500 kbit/s", float64(s.now)/1e9, est)
		}
	}
	// The bottleneck lifts: probes find the headroom within 10 s.
	l.rate = 10_000_000
	start := s.now
	for s.e.Estimate() < 2_500_000 {
		s.run(100 * time.Millisecond)
		if time.Duration(s.now-start) > 10*time.Second {
			t.Fatalf("estimate only %d 10 s after the bottleneck lifted", s.e.Estimate())
		}
	}
	t.Logf("recovered to %d in %v", s.e.Estimate(), time.Duration(s.now-start))
}

func TestRandomLossAloneDoesNotCollapseTheEstimate(t *testing.T) {
	l := &link{rate: 20_000_000, maxQueue: 300 * time.Millisecond, loss: 0.10, rng: rand.New(rand.NewSource(2))}
	s := newSim(t, l, 3_000_000)
	s.run(10 * time.Second)
	if est := s.e.Estimate(); est < 2_000_000 {
		t.Fatalf("10%% random loss on a fast path pulled the estimate down to %d", est)
	}
	if loss := s.e.Loss(); loss < 0.05 || loss > 0.15 {
		t.Fatalf("measured loss %.3f, want about 0.10", loss)
	}
}

func TestREMBWithoutTWCC(t *testing.T) {
	e := New(DefaultConfig, nil)
	e.OnREMB(800_000, time.Now())
	if got := e.Estimate(); got != 800_000 {
		t.Fatalf("estimate %d after REMB 800k", got)
	}
}

func TestHistoryConcurrentRecord(t *testing.T) {
	var h History
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 10000; i++ {
				h.Record(1000, int64(i))
			}
			done <- struct{}{}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
	if n := h.next.Load(); n != 40000 {
		t.Fatalf("assigned %d sequence numbers, want 40000", n)
	}
	seq := uint16(40000 - 1)
	if _, size, _, ok := h.lookup(seq); !ok || size != 1000 {
		t.Fatalf("last packet not found: %v %d", ok, size)
	}
}
