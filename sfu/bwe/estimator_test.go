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
	// A receiver starved of CPU every stallEvery for stallFor reads what arrived meanwhile in one
	// burst when it runs again: those packets carry arrival times squeezed in just after the stall.
	stallEvery, stallFor time.Duration
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
	arr := l.busyTill + int64(20*time.Millisecond) // plus propagation
	if l.stallEvery > 0 {
		if into := arr % int64(l.stallEvery); into < int64(l.stallFor) {
			arr += int64(l.stallFor) - into + into/100 // held to the stall's end, then read 100x faster
		}
	}
	return arr, true
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

// An entry keeps a packet's send time to the microsecond, whatever the clock reads (times past the
// 28 bits an entry stores, feedback a little before or long after), its size (up to 4095) and
// probe cluster, and tells a sequence number from the one a ring's length before it.
func TestHistoryEntries(t *testing.T) {
	var h History
	cases := []struct {
		sentNS, nowNS int64
		size          int
		cluster       uint32
	}{
		{1_000_000, 1_050_000_000, 1200, 0},                           // 50 ms before feedback
		{300_000_123_456, 300_000_200_000, 1200, 7},                   // past 2^28 µs
		{1_764_000_000_123_456_789, 1_764_000_000_623_456_789, 60, 0}, // a wall clock
		{1_764_000_000_123_456_789, 1_764_000_000_122_456_789, 60, 0}, // the feedback's clock 1 ms behind
		{5_000_000_000, 5_000_000_000 + 120*1e9, 9000, MaxCluster},    // two minutes later; size clamped
	}
	for _, c := range cases {
		h.cluster.Store(c.cluster)
		seq := h.Record(c.size, c.sentNS)
		us, size, cluster, ok := h.lookup(seq, c.nowNS/1000)
		if !ok {
			t.Fatalf("%+v: not found", c)
		}
		if us != c.sentNS/1000 {
			t.Errorf("%+v: send time %d µs, want %d", c, us, c.sentNS/1000)
		}
		if want := min(c.size, 4095); size != want {
			t.Errorf("%+v: size %d, want %d", c, size, want)
		}
		if cluster != uint16(c.cluster) {
			t.Errorf("%+v: cluster %d", c, cluster)
		}
	}
	// A ring's length later the slot holds another packet: the old number is gone.
	old := h.Record(100, 0)
	for i := 0; i < historySize; i++ {
		h.Record(100, 0)
	}
	if _, _, _, ok := h.lookup(old, 0); ok {
		t.Fatal("a packet overwritten in the ring was still found")
	}
	var empty History
	if _, _, _, ok := empty.lookup(0, 0); ok {
		t.Fatal("an empty entry was found")
	}
}

// Probe cluster ids stay within what an entry holds, and packets sent during a probe carry its id.
func TestProbeClusterIDsFitEntries(t *testing.T) {
	e := New(DefaultConfig, nil)
	at := time.Unix(1000, 0)
	seen := map[uint16]bool{}
	for i := 0; i < 2*MaxCluster+3; i++ {
		at = at.Add(10 * time.Second)
		id, _, ok := e.StartProbe(2_000_000, at)
		if !ok {
			t.Fatalf("probe %d not started", i)
		}
		if id == 0 || id > MaxCluster {
			t.Fatalf("probe %d: cluster id %d", i, id)
		}
		seen[id] = true
		seq := e.History().Record(1200, at.UnixNano())
		if _, _, cluster, ok := e.History().lookup(seq, at.UnixMicro()); !ok || cluster != id {
			t.Fatalf("probe %d: packet tagged %d, want %d", i, cluster, id)
		}
		e.EndProbe(id)
		e.mu.Lock()
		for j := range e.probes {
			e.probes[j].done = true
		}
		e.mu.Unlock()
	}
	if len(seen) != MaxCluster {
		t.Fatalf("%d distinct cluster ids over %d probes, want all %d", len(seen), 2*MaxCluster+3, MaxCluster)
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
	if _, size, _, ok := h.lookup(seq, 0); !ok || size != 1000 {
		t.Fatalf("last packet not found: %v %d", ok, size)
	}
}

// A link that drops from fast to a 500 kbit/s bottleneck with a deep (300 ms) buffer, while the
// subscriber wants more: the estimate comes down to the bottleneck and stays near it. Neither the
// full buffer's tail drops (counted again as loss while the queue drains) nor the probes for more
// (congestion of their own making) may push it far below what the path carries: each such dip
// moves a subscriber to a smaller layer and back, a keyframe each way.
func TestEstimateStaysNearABottleneckAfterItAppears(t *testing.T) {
	l := &link{rate: 5_000_000, maxQueue: 300 * time.Millisecond, rng: rand.New(rand.NewSource(3))}
	s := newSim(t, l, 1_500_000)
	s.run(5 * time.Second)
	l.rate = 500_000
	s.demand = 3_000_000
	s.run(3 * time.Second)
	lo, hi := s.e.Estimate(), s.e.Estimate()
	for i := 0; i < 150; i++ {
		s.run(100 * time.Millisecond)
		lo, hi = min(lo, s.e.Estimate()), max(hi, s.e.Estimate())
	}
	t.Logf("15 s behind 500 kbit/s: estimate %d–%d", lo, hi)
	if lo < 375_000 || hi > 650_000 {
		t.Fatalf("estimate ranged %d–%d behind a 500 kbit/s bottleneck, want 375k–650k", lo, hi)
	}
}

// A receiver that stalls for 40 ms every 300 ms (a busy machine descheduling the browser) reads
// the packets held meanwhile in one burst: that is no queue on the path, and the estimate must not
// fall for it. GCC's inter-arrival grouping merges such a burst into the group before it.
func TestReceiverStallsAreNotCongestion(t *testing.T) {
	l := &link{rate: 50_000_000, maxQueue: 300 * time.Millisecond, rng: rand.New(rand.NewSource(4)),
		stallEvery: 300 * time.Millisecond, stallFor: 40 * time.Millisecond}
	s := newSim(t, l, 5_000_000)
	s.run(10 * time.Second)
	if est := s.e.Estimate(); est < 4_500_000 {
		t.Fatalf("after 10 s the estimate is %d, want the 5 Mbit/s demand", est)
	}
	lo := s.e.Estimate()
	for i := 0; i < 100; i++ {
		s.run(100 * time.Millisecond)
		lo = min(lo, s.e.Estimate())
	}
	if lo < 4_000_000 {
		t.Fatalf("receiver stalls pulled the estimate down to %d with no queue on the path", lo)
	}
}

// A receiver descheduled for up to 400 ms every 2 s (three browsers encoding 720p on two cores)
// reports one feedback of packets that all arrived late, then catches up: its delay is far above
// the base, but no queue stands on the path, and the estimate must hold the demand.
func TestLongReceiverStallsAreNotAStandingQueue(t *testing.T) {
	for _, stall := range []time.Duration{120 * time.Millisecond, 400 * time.Millisecond} {
		l := &link{rate: 50_000_000, maxQueue: 300 * time.Millisecond, rng: rand.New(rand.NewSource(5)),
			stallEvery: 2 * time.Second, stallFor: stall}
		s := newSim(t, l, 1_500_000)
		s.run(10 * time.Second)
		lo := s.e.Estimate()
		for i := 0; i < 100; i++ {
			s.run(100 * time.Millisecond)
			lo = min(lo, s.e.Estimate())
		}
		if lo < 1_500_000 {
			t.Errorf("%v stalls pulled the estimate down to %d with no queue on the path, want ≥ the 1.5 Mbit/s demand", stall, lo)
		}
	}
}
