package forwarder

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hop-meet/hop/sfu/packetcache"
)

// recSink records the sequence numbers it is given.
type recSink struct {
	mu     sync.Mutex
	seqs   []uint16
	layers []int8
	n      atomic.Int64
}

func (s *recSink) WritePacket(layer int8, p *packetcache.Packet, _ int64, _ *Scratch) {
	s.mu.Lock()
	s.seqs = append(s.seqs, p.SequenceNumber)
	s.layers = append(s.layers, layer)
	s.mu.Unlock()
	s.n.Add(1)
}

func (s *recSink) snapshot() []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint16(nil), s.seqs...)
}

// blockSink blocks in WritePacket until released.
type blockSink struct {
	entered chan struct{}
	release chan struct{}
	n       atomic.Int64
}

func (s *blockSink) WritePacket(int8, *packetcache.Packet, int64, *Scratch) {
	if s.n.Add(1) == 1 {
		close(s.entered)
	}
	<-s.release
}

func packets(n int) []*packetcache.Packet {
	ps := make([]*packetcache.Packet, n)
	for i := range ps {
		ps[i] = &packetcache.Packet{SequenceNumber: uint16(i)}
	}
	return ps
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// dispatchPaced dispatches pkts in batches no larger than a writer's queue, waiting for every sink
// to catch up after each batch, so that no queue overruns.
func dispatchPaced(t *testing.T, f *Forwarder, pkts []*packetcache.Packet, sinks []*recSink, base int64) {
	t.Helper()
	batch := QueueSize / 2
	for i := 0; i < len(pkts); i += batch {
		end := min(i+batch, len(pkts))
		for _, p := range pkts[i:end] {
			f.Dispatch(1, p)
		}
		for _, s := range sinks {
			waitFor(t, "sinks to catch up", func() bool { return s.n.Load() >= base+int64(end) })
		}
	}
}

func TestEverySinkGetsEveryPacketInOrder(t *testing.T) {
	for _, n := range []int{1, 2, 5, 17, 64} {
		f := New(nil)
		sinks := make([]*recSink, n)
		for i := range sinks {
			sinks[i] = &recSink{}
			f.Add(sinks[i])
		}
		if f.Len() != n {
			t.Fatalf("Len = %d, want %d", f.Len(), n)
		}
		pkts := packets(1000)
		dispatchPaced(t, f, pkts, sinks, 0)
		f.Close()
		if d := f.Dropped(); d != 0 {
			t.Errorf("n=%d: Dropped = %d without overrun", n, d)
		}
		for i, s := range sinks {
			got := s.snapshot()
			if len(got) != len(pkts) {
				t.Fatalf("n=%d sink %d: %d packets, want %d", n, i, len(got), len(pkts))
			}
			for j, seq := range got {
				if seq != uint16(j) {
					t.Fatalf("n=%d sink %d: packet %d is seq %d", n, i, j, seq)
				}
				if s.layers[j] != 1 {
					t.Fatalf("layer %d passed as %d", 1, s.layers[j])
				}
			}
		}
	}
}

func TestSamePacketPointerForEverySink(t *testing.T) {
	f := New(nil)
	defer f.Close()
	var mu sync.Mutex
	seen := map[*packetcache.Packet]int{}
	const n = 10
	for i := 0; i < n; i++ {
		f.Add(sinkFunc(func(_ int8, p *packetcache.Packet) {
			mu.Lock()
			seen[p]++
			mu.Unlock()
		}))
	}
	p := &packetcache.Packet{SequenceNumber: 9}
	f.Dispatch(0, p)
	waitFor(t, "delivery", func() bool { mu.Lock(); defer mu.Unlock(); return seen[p] == n })
	if len(seen) != 1 {
		t.Fatalf("sinks saw %d distinct packet pointers, want the one dispatched", len(seen))
	}
}

func TestWritersCappedAtCores(t *testing.T) {
	f := New(nil)
	f.maxWriters = 3
	defer f.Close()
	var sinks []*recSink
	for n := 1; n <= 50; n++ {
		s := &recSink{}
		sinks = append(sinks, s)
		f.Add(s)
		if want := min(int(math.Ceil(math.Sqrt(float64(n)))), 3); f.Writers() != want {
			t.Fatalf("%d sinks: %d writers, want %d", n, f.Writers(), want)
		}
	}
	// Every sink still gets every packet, spread over the three writers.
	p := &packetcache.Packet{}
	f.Dispatch(0, p)
	waitFor(t, "every sink to get the packet", func() bool {
		for _, s := range sinks {
			if s.n.Load() != 1 {
				return false
			}
		}
		return true
	})
}

type sinkFunc func(int8, *packetcache.Packet)

func (f sinkFunc) WritePacket(l int8, p *packetcache.Packet, _ int64, _ *Scratch) { f(l, p) }

func TestWriterCountGrowsAsSqrt(t *testing.T) {
	f := New(nil)
	f.maxWriters = 1000
	defer f.Close()
	if f.Writers() != 0 {
		t.Fatalf("empty forwarder has %d writers", f.Writers())
	}
	var sinks []*recSink
	for n := 1; n <= 100; n++ {
		s := &recSink{}
		sinks = append(sinks, s)
		f.Add(s)
		want := int(math.Ceil(math.Sqrt(float64(n))))
		if got := f.Writers(); got != want {
			t.Fatalf("%d sinks: %d writers, want %d", n, got, want)
		}
	}
	// Remove all sinks: writers must be retired, down to none.
	for i, s := range sinks {
		f.Remove(s)
		left := len(sinks) - i - 1
		if f.Len() != left {
			t.Fatalf("Len = %d after removing %d, want %d", f.Len(), i+1, left)
		}
		if w := f.Writers(); w < int(math.Ceil(math.Sqrt(float64(left)))) {
			t.Fatalf("%d sinks left on %d writers: fewer than √N", left, w)
		}
	}
	if w := f.Writers(); w != 0 {
		t.Fatalf("all sinks removed, %d writers remain", w)
	}
	// And it grows again.
	f.Add(&recSink{})
	if w := f.Writers(); w != 1 {
		t.Fatalf("one sink after emptying: %d writers", w)
	}
}

func TestWritersShrinkWhenSinksLeave(t *testing.T) {
	f := New(nil)
	f.maxWriters = 1000
	defer f.Close()
	var sinks []*recSink
	for i := 0; i < 25; i++ {
		s := &recSink{}
		sinks = append(sinks, s)
		f.Add(s)
	}
	if f.Writers() != 5 {
		t.Fatalf("25 sinks: %d writers", f.Writers())
	}
	// Remove from the end: the newest sinks went to the least loaded writers, so writers empty out.
	for _, s := range sinks[4:] {
		f.Remove(s)
	}
	if f.Len() != 4 {
		t.Fatalf("Len = %d, want 4", f.Len())
	}
	if w := f.Writers(); w > 4 || w < 2 {
		t.Fatalf("4 sinks left: %d writers, want between 2 and 4", w)
	}
	// The sinks left still get packets.
	pkts := packets(10)
	dispatchPaced(t, f, pkts, sinks[:4], 0)
	for _, s := range sinks[4:] {
		if s.n.Load() != 0 {
			t.Fatal("a removed sink received a packet dispatched after Remove returned")
		}
	}
}

func TestRemoveUnknownSink(t *testing.T) {
	f := New(nil)
	defer f.Close()
	a := &recSink{}
	f.Add(a)
	f.Remove(&recSink{})
	if f.Len() != 1 || f.Writers() != 1 {
		t.Fatalf("Len %d Writers %d after removing an unknown sink", f.Len(), f.Writers())
	}
}

func TestAddAfterCloseIsIgnored(t *testing.T) {
	base := runtime.NumGoroutine()
	f := New(nil)
	f.Add(&recSink{})
	f.Close()
	f.Close() // idempotent
	f.Add(&recSink{})
	if f.Writers() != 0 {
		t.Fatalf("%d writers after Close", f.Writers())
	}
	f.Dispatch(0, &packetcache.Packet{}) // must not block or panic
	f.Remove(&recSink{})
	waitGoroutines(t, base)
}

func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, baseline %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCloseStopsWriters(t *testing.T) {
	base := runtime.NumGoroutine()
	f := New(nil)
	var sinks []*recSink
	for i := 0; i < 50; i++ {
		s := &recSink{}
		sinks = append(sinks, s)
		f.Add(s)
	}
	if got := runtime.NumGoroutine() - base; got < f.Writers() {
		t.Fatalf("%d writers but only %d new goroutines", f.Writers(), got)
	}
	for _, p := range packets(20) {
		f.Dispatch(0, p)
	}
	// Retire some writers through Remove, then close the rest.
	for _, s := range sinks[30:] {
		f.Remove(s)
	}
	f.Close()
	if f.Writers() != 0 {
		t.Fatalf("%d writers after Close", f.Writers())
	}
	waitGoroutines(t, base)
}

func TestDroppedCountsWhenASinkBlocks(t *testing.T) {
	f := New(nil)
	defer f.Close()
	b := &blockSink{entered: make(chan struct{}), release: make(chan struct{})}
	f.Add(b)
	pkts := packets(QueueSize + 11)
	// The first packet is taken by the writer, which then blocks in the sink.
	f.Dispatch(0, pkts[0])
	select {
	case <-b.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("sink never called")
	}
	// QueueSize packets fill the queue; the rest are dropped.
	for _, p := range pkts[1:] {
		f.Dispatch(0, p)
	}
	if d := f.Dropped(); d != 10 {
		t.Fatalf("Dropped = %d, want 10", d)
	}
	close(b.release)
	waitFor(t, "queue to drain", func() bool { return b.n.Load() == int64(QueueSize+1) })
	if d := f.Dropped(); d != 10 {
		t.Fatalf("Dropped = %d after draining, want 10", d)
	}
}

func TestBlockingSinkDoesNotBlockDispatch(t *testing.T) {
	f := New(nil)
	f.SetSinksPerWriter(1)
	b := &blockSink{entered: make(chan struct{}), release: make(chan struct{})}
	r := &recSink{}
	f.Add(b)
	f.Add(r)
	if f.Writers() != 2 {
		t.Fatalf("one sink per writer: %d writers for 2 sinks", f.Writers())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range packets(10 * QueueSize) {
			f.Dispatch(0, p)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Dispatch blocked on a blocked sink")
	}
	if f.Dropped() == 0 {
		t.Fatal("nothing dropped although a sink is blocked")
	}
	close(b.release)
	f.Close()
	// The sink on the other writer was not held back by the blocked one beyond its own queue.
	if got := r.snapshot(); len(got) == 0 {
		t.Fatal("the healthy sink received nothing")
	}
}

func TestSetSinksPerWriter(t *testing.T) {
	f := New(nil)
	defer f.Close()
	f.SetSinksPerWriter(4)
	for i := 1; i <= 9; i++ {
		f.Add(&recSink{})
		if want := (i + 3) / 4; f.Writers() != want {
			t.Fatalf("%d sinks, 4 per writer: %d writers, want %d", i, f.Writers(), want)
		}
	}
}

// TestConcurrentMembership adds and removes sinks while packets are dispatched (run with -race).
// A sink present throughout must get every packet in order.
func TestConcurrentMembership(t *testing.T) {
	base := runtime.NumGoroutine()
	f := New(nil)
	stable := &recSink{}
	f.Add(stable)

	const total = 3000
	pkts := packets(total)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []*recSink
			for i := 0; ; i++ {
				select {
				case <-stop:
					for _, s := range mine {
						f.Remove(s)
					}
					return
				default:
				}
				if len(mine) < 8 || i%3 == 0 {
					s := &recSink{}
					mine = append(mine, s)
					f.Add(s)
				} else {
					k := i % len(mine)
					f.Remove(mine[k])
					mine = append(mine[:k], mine[k+1:]...)
				}
				_ = f.Len()
				_ = f.Writers()
				_ = f.Dropped()
				if i%16 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}

	dispatchPaced(t, f, pkts, []*recSink{stable}, 0)
	close(stop)
	wg.Wait()

	got := stable.snapshot()
	if len(got) != total {
		t.Fatalf("stable sink got %d packets, want %d", len(got), total)
	}
	for i, seq := range got {
		if seq != uint16(i) {
			t.Fatalf("stable sink: packet %d is seq %d", i, seq)
		}
	}
	if f.Len() != 1 {
		t.Fatalf("Len = %d after churn, want 1", f.Len())
	}
	if w := f.Writers(); w != 1 {
		t.Errorf("one sink left on %d writers", w)
	}
	f.Close()
	waitGoroutines(t, base)
}

// TestTransientSinksSeeOrderedSubsequence checks that sinks added and removed mid-stream see
// packets in dispatch order, without duplicates.
func TestTransientSinksSeeOrderedSubsequence(t *testing.T) {
	f := New(nil)
	defer f.Close()
	keep := &recSink{}
	f.Add(keep)
	var transient []*recSink
	pkts := packets(2000)
	for i, p := range pkts {
		if i%50 == 0 {
			s := &recSink{}
			transient = append(transient, s)
			f.Add(s)
		}
		if i%50 == 25 && len(transient) > 1 {
			f.Remove(transient[len(transient)-2])
		}
		f.Dispatch(0, p)
		if i%(QueueSize/2) == 0 {
			waitFor(t, "keep to catch up", func() bool { return keep.n.Load() == int64(i+1) })
		}
	}
	waitFor(t, "keep to catch up", func() bool { return keep.n.Load() == int64(len(pkts)) })
	for k, s := range transient {
		got := s.snapshot()
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("transient sink %d: seq %d after %d", k, got[i], got[i-1])
			}
		}
	}
}
