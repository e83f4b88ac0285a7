// Package forwarder fans packets of one published track out to its subscribers on a pool of writer
// goroutines, so the goroutine that reads from the publisher only hands each packet to a few queues
// and a room with many subscribers spreads its sends over every core.
//
// The pool grows with the number of subscribers, about √N writers for N subscribers, each owning a
// fixed subset of them. Subscriber lists are copy-on-write: Dispatch and the writers read them
// without locks. A packet is passed by pointer to its packet-cache slot, never copied.
package forwarder

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hop-meet/hop/sfu/packetcache"
)

// Sink is one subscriber of the track. WritePacket is called from a single writer goroutine at a
// time and must not block on anything but the network send. now is the send time (Unix ns), read
// once per packet for all the writer's sinks. scratch is the writer's buffer for a packet the sink
// rewrites; it is only good until WritePacket returns.
type Sink interface {
	WritePacket(layer int8, p *packetcache.Packet, now int64, scratch *Scratch)
}

// Scratch holds one rewritten packet. Each writer owns one and lends it to its sinks in turn, so a
// subscriber's downtracks need no buffer of their own.
type Scratch [packetcache.MaxPacketSize]byte

// Batcher groups the network writes of one packet's fan-out (see sfu/udpbatch).
type Batcher interface {
	Begin()
	End()
}

// QueueSize bounds each writer's queue. It must stay well below the packet caches' size so that a
// queued slot cannot be overwritten before it is written out.
const QueueSize = 128

type item struct {
	layer int8
	p     *packetcache.Packet
}

type writer struct {
	ch    chan item
	quit  chan struct{}
	sinks atomic.Pointer[[]Sink]
	// dropped counts packets this writer could not queue because it was behind.
	dropped atomic.Uint64
	scratch *Scratch
}

func (w *writer) run(wg *sync.WaitGroup, batch Batcher) {
	defer wg.Done()
	for {
		select {
		case it := <-w.ch:
			now := time.Now().UnixNano()
			if batch != nil {
				batch.Begin()
			}
			for _, s := range *w.sinks.Load() {
				s.WritePacket(it.layer, it.p, now, w.scratch)
			}
			// Packets already queued behind this one join the same system call.
			for more := len(w.ch); more > 0; more-- {
				it = <-w.ch
				for _, s := range *w.sinks.Load() {
					s.WritePacket(it.layer, it.p, now, w.scratch)
				}
			}
			if batch != nil {
				batch.End()
			}
		case <-w.quit:
			return
		}
	}
}

// Forwarder distributes one track's packets.
type Forwarder struct {
	mu      sync.Mutex // serialises membership changes
	writers atomic.Pointer[[]*writer]
	wg      sync.WaitGroup
	closed  bool
	// perWriter overrides the √N sizing (0: automatic); used by benchmarks.
	perWriter int
	// maxWriters caps the pool (0: GOMAXPROCS).
	maxWriters int
	// retiredDropped keeps the drop counts of writers that were retired.
	retiredDropped atomic.Uint64
	batch          Batcher
}

// New makes an empty forwarder; batch (optional) groups each fan-out's sends.
func New(batch Batcher) *Forwarder {
	f := &Forwarder{batch: batch}
	empty := []*writer{}
	f.writers.Store(&empty)
	return f
}

// SetSinksPerWriter fixes how many sinks share a writer (0 restores √N sizing).
func (f *Forwarder) SetSinksPerWriter(n int) {
	f.mu.Lock()
	f.perWriter = n
	f.mu.Unlock()
}

// Dispatch queues p for every writer. It never blocks: a writer whose queue is full misses the
// packet (its subscribers recover through NACK or a keyframe).
func (f *Forwarder) Dispatch(layer int8, p *packetcache.Packet) {
	for _, w := range *f.writers.Load() {
		select {
		case w.ch <- item{layer: layer, p: p}:
		default:
			w.dropped.Add(1)
		}
	}
}

// Dropped returns the packets writers missed because their queues were full.
func (f *Forwarder) Dropped() uint64 {
	n := f.retiredDropped.Load()
	for _, w := range *f.writers.Load() {
		n += w.dropped.Load()
	}
	return n
}

func (f *Forwarder) wantWriters(sinks int) int {
	if sinks == 0 {
		return 0
	}
	if f.perWriter > 0 {
		return (sinks + f.perWriter - 1) / f.perWriter
	}
	// √N writers of √N sinks each keeps both a packet's fan-out and the number of goroutines
	// woken per packet small; more writers than cores only adds wake-ups and shrinks the batches
	// each one sends, since one track's writers can never run on more cores than there are.
	n := int(math.Ceil(math.Sqrt(float64(sinks))))
	limit := f.maxWriters
	if limit <= 0 {
		limit = runtime.GOMAXPROCS(0)
	}
	return min(n, limit)
}

func (f *Forwarder) countSinks(ws []*writer) int {
	n := 0
	for _, w := range ws {
		n += len(*w.sinks.Load())
	}
	return n
}

// Add starts forwarding to s.
func (f *Forwarder) Add(s Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	ws := *f.writers.Load()
	if len(ws) < f.wantWriters(f.countSinks(ws)+1) {
		w := &writer{ch: make(chan item, QueueSize), quit: make(chan struct{}), scratch: new(Scratch)}
		empty := []Sink{}
		w.sinks.Store(&empty)
		f.wg.Add(1)
		go w.run(&f.wg, f.batch)
		nws := append(append([]*writer{}, ws...), w)
		f.writers.Store(&nws)
		ws = nws
	}
	// The least loaded writer takes the new sink.
	best := ws[0]
	for _, w := range ws[1:] {
		if len(*w.sinks.Load()) < len(*best.sinks.Load()) {
			best = w
		}
	}
	old := *best.sinks.Load()
	ns := append(append(make([]Sink, 0, len(old)+1), old...), s)
	best.sinks.Store(&ns)
}

// Remove stops forwarding to s. When it returns, s may still receive the packet being written.
func (f *Forwarder) Remove(s Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := *f.writers.Load()
	for _, w := range ws {
		old := *w.sinks.Load()
		for i, x := range old {
			if x == s {
				ns := append(append(make([]Sink, 0, len(old)-1), old[:i]...), old[i+1:]...)
				w.sinks.Store(&ns)
				break
			}
		}
	}
	// Retire writers left empty while more writers remain than the fan-out needs.
	want := f.wantWriters(f.countSinks(ws))
	if len(ws) > want {
		keep := make([]*writer, 0, len(ws))
		var retired []*writer
		for _, w := range ws {
			if len(*w.sinks.Load()) == 0 && len(ws)-len(retired) > want {
				retired = append(retired, w)
				continue
			}
			keep = append(keep, w)
		}
		f.writers.Store(&keep)
		for _, w := range retired {
			f.retiredDropped.Add(w.dropped.Load())
			close(w.quit)
		}
	}
}

// Len returns the number of sinks.
func (f *Forwarder) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.countSinks(*f.writers.Load())
}

// Writers returns the number of writer goroutines.
func (f *Forwarder) Writers() int { return len(*f.writers.Load()) }

// Close stops all writers and waits for them.
func (f *Forwarder) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	ws := *f.writers.Load()
	empty := []*writer{}
	f.writers.Store(&empty)
	for _, w := range ws {
		close(w.quit)
	}
	f.mu.Unlock()
	f.wg.Wait()
}
