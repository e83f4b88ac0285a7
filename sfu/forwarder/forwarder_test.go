package forwarder

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

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
	for _, writers := range []int{1, 2, 4} {
		pool := NewPool(writers, nil)
		for _, n := range []int{1, 2, 5, 17, 64} {
			f := New(pool)
			sinks := make([]*recSink, n)
			for i := range sinks {
				sinks[i] = &recSink{}
				f.Add(sinks[i], nil)
			}
			if f.Len() != n {
				t.Fatalf("Len = %d, want %d", f.Len(), n)
			}
			if want := min(n, writers); f.Writers() != want {
				t.Fatalf("%d sinks on %d writers: the track uses %d, want %d", n, writers, f.Writers(), want)
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
		pool.Close()
	}
}

func TestSamePacketPointerForEverySink(t *testing.T) {
	pool := NewPool(3, nil)
	defer pool.Close()
	f := New(pool)
	defer f.Close()
	var mu sync.Mutex
	seen := map[*packetcache.Packet]int{}
	const n = 10
	for i := 0; i < n; i++ {
		f.Add(sinkFunc(func(_ int8, p *packetcache.Packet) {
			mu.Lock()
			seen[p]++
			mu.Unlock()
		}), nil)
	}
	p := &packetcache.Packet{SequenceNumber: 9}
	f.Dispatch(0, p)
	waitFor(t, "delivery", func() bool { mu.Lock(); defer mu.Unlock(); return seen[p] == n })
	if len(seen) != 1 {
		t.Fatalf("sinks saw %d distinct packet pointers, want the one dispatched", len(seen))
	}
}

type sinkFunc func(int8, *packetcache.Packet)

func (f sinkFunc) WritePacket(l int8, p *packetcache.Packet, _ int64, _ *Scratch) { f(l, p) }

// subSink is one subscriber's downtrack of one track: it records which writer lent it its
// scratch buffer, and fails if another of the subscriber's downtracks is being written at the
// same time.
type subSink struct {
	busy    *atomic.Bool // shared by the subscriber's sinks
	overlap *atomic.Int64
	mu      sync.Mutex
	scratch map[*Scratch]bool
	n       atomic.Int64
}

func (s *subSink) WritePacket(_ int8, _ *packetcache.Packet, _ int64, scratch *Scratch) {
	if !s.busy.CompareAndSwap(false, true) {
		s.overlap.Add(1)
	} else {
		runtime.Gosched() // widen the window another writer would hit
		s.busy.Store(false)
	}
	s.mu.Lock()
	s.scratch[scratch] = true
	s.mu.Unlock()
	s.n.Add(1)
}

// TestLaneWritesEveryTrackOfASubscriberFromOneWriter: a subscriber connection's downtracks of
// several tracks are written by its lane's writer alone, never two at once, and the connections
// spread evenly over the writers.
func TestLaneWritesEveryTrackOfASubscriberFromOneWriter(t *testing.T) {
	const writers, subs, tracks, total = 4, 8, 3, 300
	pool := NewPool(writers, nil)
	defer pool.Close()
	fs := make([]*Forwarder, tracks)
	for i := range fs {
		fs[i] = New(pool)
	}
	var overlap atomic.Int64
	sinks := make([][]*subSink, subs)
	for j := range sinks {
		lane := pool.Lane()
		busy := new(atomic.Bool)
		for _, f := range fs {
			s := &subSink{busy: busy, overlap: &overlap, scratch: map[*Scratch]bool{}}
			sinks[j] = append(sinks[j], s)
			f.Add(s, lane)
		}
	}
	for _, f := range fs {
		if f.Writers() != writers {
			t.Fatalf("%d subscribers on %d writers: a track uses %d writers", subs, writers, f.Writers())
		}
	}
	pkts := packets(total)
	for i := 0; i < total; i += QueueSize / 2 {
		for _, p := range pkts[i:min(i+QueueSize/2, total)] {
			for _, f := range fs {
				f.Dispatch(0, p)
			}
		}
		waitFor(t, "sinks to catch up", func() bool {
			for _, ss := range sinks {
				for _, s := range ss {
					if s.n.Load() < int64(min(i+QueueSize/2, total)) {
						return false
					}
				}
			}
			return true
		})
	}
	if n := overlap.Load(); n != 0 {
		t.Fatalf("a subscriber's downtracks were written concurrently %d times", n)
	}
	perWriter := map[*Scratch]int{}
	for j, ss := range sinks {
		var mine *Scratch
		for _, s := range ss {
			if len(s.scratch) != 1 {
				t.Fatalf("subscriber %d: a downtrack was written by %d writers", j, len(s.scratch))
			}
			for sc := range s.scratch {
				if mine != nil && sc != mine {
					t.Fatalf("subscriber %d: its downtracks were written by different writers", j)
				}
				mine = sc
			}
		}
		perWriter[mine]++
	}
	if len(perWriter) != writers {
		t.Fatalf("%d subscribers landed on %d of %d writers", subs, len(perWriter), writers)
	}
	for _, n := range perWriter {
		if n != subs/writers {
			t.Fatalf("uneven lanes: %v", perWriter)
		}
	}
	for _, f := range fs {
		if f.Dropped() != 0 {
			t.Fatalf("Dropped = %d without overrun", f.Dropped())
		}
	}
}

func TestLanesGoToTheLeastLoadedWriter(t *testing.T) {
	pool := NewPool(3, nil)
	defer pool.Close()
	lanes := []*Lane{pool.Lane(), pool.Lane(), pool.Lane()}
	if lanes[0].w == lanes[1].w || lanes[1].w == lanes[2].w || lanes[0].w == lanes[2].w {
		t.Fatal("three lanes on three idle writers share a writer")
	}
	lanes[1].Release()
	lanes[1].Release() // once only: a second release must not free another lane's share
	next := pool.Lane()
	if next.w != lanes[1].w {
		t.Fatal("a new lane did not take the writer a released lane left")
	}
	if again := pool.Lane(); again.w == next.w {
		t.Fatal("a fourth lane joined the writer that already has the new lane, though others are as loaded")
	}
}

func TestTrackWritersFollowItsSinks(t *testing.T) {
	pool := NewPool(2, nil)
	defer pool.Close()
	a, b := pool.Lane(), pool.Lane()
	f := New(pool)
	defer f.Close()
	if f.Writers() != 0 {
		t.Fatalf("empty track on %d writers", f.Writers())
	}
	s1, s2, s3 := &recSink{}, &recSink{}, &recSink{}
	f.Add(s1, a)
	f.Add(s2, a)
	if f.Writers() != 1 {
		t.Fatalf("two sinks of one lane: %d writers", f.Writers())
	}
	f.Add(s3, b)
	if f.Writers() != 2 || f.Len() != 3 {
		t.Fatalf("Writers %d Len %d, want 2 and 3", f.Writers(), f.Len())
	}
	f.Remove(s3)
	if f.Writers() != 1 {
		t.Fatalf("the only sink on a writer left: track still on %d writers", f.Writers())
	}
	// The sinks left still get packets; the removed one gets none.
	dispatchPaced(t, f, packets(10), []*recSink{s1, s2}, 0)
	if s3.n.Load() != 0 {
		t.Fatal("a removed sink received a packet dispatched after Remove returned")
	}
}

func TestRemoveUnknownSink(t *testing.T) {
	pool := NewPool(1, nil)
	defer pool.Close()
	f := New(pool)
	defer f.Close()
	a := &recSink{}
	f.Add(a, nil)
	f.Remove(&recSink{})
	if f.Len() != 1 || f.Writers() != 1 {
		t.Fatalf("Len %d Writers %d after removing an unknown sink", f.Len(), f.Writers())
	}
}

func TestAddAfterCloseIsIgnored(t *testing.T) {
	pool := NewPool(2, nil)
	defer pool.Close()
	f := New(pool)
	f.Add(&recSink{}, nil)
	f.Close()
	f.Close() // idempotent
	lane := pool.Lane()
	f.Add(&recSink{}, lane)
	f.Add(&recSink{}, nil)
	if f.Writers() != 0 || f.Len() != 0 {
		t.Fatalf("%d writers, %d sinks after Close", f.Writers(), f.Len())
	}
	f.Dispatch(0, &packetcache.Packet{}) // must not block or panic
	f.Remove(&recSink{})
	lane.Release()
	// Sinks added without a lane gave the lanes taken for them back, and none was taken after Close.
	if n := pool.Lanes(); n != 0 {
		t.Fatalf("%d lanes still taken after the track closed", n)
	}
}

// A sink added without a lane takes one of its own, on the least loaded writer, and gives it
// back when removed.
func TestLanelessSinkTakesAndReleasesALane(t *testing.T) {
	pool := NewPool(2, nil)
	defer pool.Close()
	busy := pool.Lane()
	defer busy.Release()
	f := New(pool)
	defer f.Close()
	s := &recSink{}
	f.Add(s, nil)
	if n := pool.Lanes(); n != 2 {
		t.Fatalf("%d lanes taken, want the connection's and the sink's", n)
	}
	if g := (*f.groups.Load())[0]; g.w == busy.w {
		t.Fatal("the sink went to the busy writer while the other was idle")
	}
	f.Remove(s)
	if n := pool.Lanes(); n != 1 {
		t.Fatalf("%d lanes taken after Remove, want 1", n)
	}
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

func TestPoolCloseStopsWriters(t *testing.T) {
	base := runtime.NumGoroutine()
	pool := NewPool(4, nil)
	if got := runtime.NumGoroutine() - base; got < 4 {
		t.Fatalf("4 writers but only %d new goroutines", got)
	}
	f := New(pool)
	for i := 0; i < 50; i++ {
		f.Add(&recSink{}, nil)
	}
	for _, p := range packets(20) {
		f.Dispatch(0, p)
	}
	pool.Close()
	pool.Close() // idempotent
	waitGoroutines(t, base)
	// A track outliving the pool drops what it dispatches, without blocking.
	for _, p := range packets(2 * writerQueue) {
		f.Dispatch(0, p)
	}
	f.Close()
}

func TestDroppedCountsWhenASinkBlocks(t *testing.T) {
	pool := NewPool(1, nil)
	defer pool.Close()
	f := New(pool)
	defer f.Close()
	b := &blockSink{entered: make(chan struct{}), release: make(chan struct{})}
	f.Add(b, nil)
	pkts := packets(QueueSize + 11)
	// The first packet is taken by the writer, which then blocks in the sink.
	f.Dispatch(0, pkts[0])
	select {
	case <-b.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("sink never called")
	}
	// QueueSize packets wait; the rest are dropped.
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
	// Once drained, the track queues again.
	f.Dispatch(0, pkts[0])
	waitFor(t, "the next packet", func() bool { return b.n.Load() == int64(QueueSize+2) })
}

func TestBlockingSinkDoesNotBlockDispatch(t *testing.T) {
	pool := NewPool(2, nil)
	defer pool.Close()
	f := New(pool)
	b := &blockSink{entered: make(chan struct{}), release: make(chan struct{})}
	r := &recSink{}
	f.Add(b, pool.Lane())
	f.Add(r, pool.Lane())
	if f.Writers() != 2 {
		t.Fatalf("two lanes: %d writers", f.Writers())
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
	// The sink on the other writer is not held back: it gets what its queue took while the
	// blocked one still blocks.
	waitFor(t, "the healthy sink", func() bool { return r.n.Load() >= QueueSize })
	close(b.release)
	f.Close()
}

// TestConcurrentMembership adds and removes sinks while packets are dispatched (run with -race).
// A sink present throughout must get every packet in order.
func TestConcurrentMembership(t *testing.T) {
	pool := NewPool(3, nil)
	defer pool.Close()
	f := New(pool)
	stable := &recSink{}
	f.Add(stable, nil)

	const total = 3000
	pkts := packets(total)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []*recSink
			lane := pool.Lane()
			defer lane.Release()
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
					if i%2 == 0 {
						f.Add(s, lane)
					} else {
						f.Add(s, nil)
					}
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
	if f.Len() != 1 || f.Writers() != 1 {
		t.Fatalf("Len %d on %d writers after churn, want 1 on 1", f.Len(), f.Writers())
	}
	f.Close()
}

// TestTransientSinksSeeOrderedSubsequence checks that sinks added and removed mid-stream see
// packets in dispatch order, without duplicates.
func TestTransientSinksSeeOrderedSubsequence(t *testing.T) {
	pool := NewPool(2, nil)
	defer pool.Close()
	f := New(pool)
	defer f.Close()
	keep := &recSink{}
	f.Add(keep, nil)
	var transient []*recSink
	pkts := packets(2000)
	for i, p := range pkts {
		if i%50 == 0 {
			s := &recSink{}
			transient = append(transient, s)
			f.Add(s, nil)
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

// Alloc keeps each writer's values together, on pages no other writer's values share, and hands
// out each slot once.
func TestAllocKeepsWritersApart(t *testing.T) {
	type state struct{ a, b [100]uint64 } // 1600 bytes: 10 to a chunk
	p := NewPool(2, nil)
	defer p.Close()
	l0, l1 := p.Lane(), p.Lane()
	if l0.Index() == l1.Index() {
		t.Fatal("two lanes on one writer")
	}
	const page = 4096
	seen := map[uintptr]bool{}
	pages := [2]map[uintptr]bool{{}, {}}
	for i := 0; i < 25; i++ {
		for k, l := range []*Lane{l0, l1} {
			x := Alloc[state](l)
			x.a[0]++
			if x.a[0] != 1 || x.b[99] != 0 {
				t.Fatalf("value %d of lane %d was not zero", i, k)
			}
			start, end := uintptr(unsafe.Pointer(x)), uintptr(unsafe.Pointer(x))+unsafe.Sizeof(*x)-1
			if seen[start] {
				t.Fatalf("slot %#x handed out twice", start)
			}
			seen[start] = true
			for pg := start / page; pg <= end/page; pg++ {
				pages[k][pg] = true
			}
		}
	}
	for pg := range pages[0] {
		if pages[1][pg] {
			t.Fatalf("page %#x holds values of both writers", pg*page)
		}
	}
	if x := Alloc[state](nil); x == nil || x.a[0] != 0 {
		t.Fatal("Alloc without a lane")
	}
}
