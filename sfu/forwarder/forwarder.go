// Package forwarder fans packets of published tracks out to their subscribers on a pool of writer
// goroutines, so the goroutine that reads from a publisher only hands each packet to a few queues
// and a node's sends spread over every core.
//
// The pool has a writer per core, and every subscriber connection is served by one of them, its
// lane, for all the tracks it receives. What a connection's packets share (the transport-wide
// sequence counter and send history, pion's SRTP session and its lock) is then touched by one
// goroutine at a time and stays in one core's cache; spreading one subscriber's tracks over
// several writers made those lines bounce between cores for every packet, and a room of four
// publishers gained nothing from a second core.
//
// A track's Forwarder keeps, per writer, the list of its sinks on that writer's lanes. Lists are
// copy-on-write: Dispatch and the writers read them without locks. A packet is passed by pointer to
// its packet-cache slot, never copied.
package forwarder

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hop-meet/hop/sfu/packetcache"
)

// Sink is one subscriber of a track. WritePacket is called from a single writer goroutine at a
// time and must not block on anything but the network send. now is the send time (Unix ns), read
// once per packet for all the writer's sinks. scratch is the writer's buffer for a packet the sink
// rewrites; it is only good until WritePacket returns.
type Sink interface {
	WritePacket(layer int8, p *packetcache.Packet, now int64, scratch *Scratch)
}

// Scratch holds one rewritten packet. Each writer owns one and lends it to its sinks in turn, so a
// subscriber's downtracks need no buffer of their own.
type Scratch [packetcache.MaxPacketSize]byte

// Batcher groups the network writes of a writer's turn (see sfu/udpbatch); lane is the writer's
// index in the pool (Lane.Index).
type Batcher interface {
	Begin(lane int)
	End(lane int)
}

// QueueSize bounds how many packets of one track may wait at one writer, besides the one being
// written. It must stay well below the packet caches' size so that a queued slot cannot be
// overwritten before it is written out.
const QueueSize = 128

// writerQueue bounds a writer's queue, shared by all the tracks its lanes receive.
const writerQueue = 1024

type item struct {
	g     *group
	p     *packetcache.Packet
	layer int8
}

type writer struct {
	index   int
	ch      chan item
	quit    chan struct{}
	lanes   int // lanes taken on this writer
	scratch *Scratch
	// chunks holds, per type given to Alloc, the unused rest of the writer's current chunk.
	chunks map[any]any
}

func (w *writer) run(wg *sync.WaitGroup, batch Batcher) {
	defer wg.Done()
	for {
		select {
		case it := <-w.ch:
			if batch != nil {
				batch.Begin(w.index)
			}
			w.write(it, time.Now().UnixNano())
			// Packets queued behind this one, and those that arrive while it is written, join
			// the same system calls: a video frame's packets come in a burst, and a batch that
			// holds several of them for one subscriber leaves in fewer messages (see
			// udpbatch's GSO). Full batches leave on their own, so waiting work never piles up
			// here. The clock is read for each: the queue is shared by every track the writer
			// serves, and the bandwidth estimator needs each packet's own send time.
			for len(w.ch) > 0 {
				w.write(<-w.ch, time.Now().UnixNano())
			}
			if batch != nil {
				batch.End(w.index)
			}
		case <-w.quit:
			return
		}
	}
}

func (w *writer) write(it item, now int64) {
	it.g.queued.Add(-1)
	for _, s := range *it.g.sinks.Load() {
		s.WritePacket(it.layer, it.p, now, w.scratch)
	}
}

// Pool is a node's writer goroutines.
type Pool struct {
	mu      sync.Mutex // guards the writers' load counts and closed
	writers []*writer
	wg      sync.WaitGroup
	closed  bool
}

// NewPool starts n writers (at least one); batch (optional) groups each writer's sends.
func NewPool(n int, batch Batcher) *Pool {
	p := &Pool{writers: make([]*writer, max(n, 1))}
	for i := range p.writers {
		w := &writer{index: i, ch: make(chan item, writerQueue), quit: make(chan struct{}), scratch: new(Scratch)}
		p.writers[i] = w
		p.wg.Add(1)
		go w.run(&p.wg, batch)
	}
	return p
}

// Size is the number of writers.
func (p *Pool) Size() int { return len(p.writers) }

// Close stops the writers and waits for them. Packets dispatched afterwards are dropped.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for _, w := range p.writers {
		close(w.quit)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// Lanes returns how many lanes are taken.
func (p *Pool) Lanes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, w := range p.writers {
		n += w.lanes
	}
	return n
}

// Lane assigns a subscriber connection to the least loaded writer. Release it when the
// connection closes.
func (p *Pool) Lane() *Lane {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.writers[0]
	for _, x := range p.writers[1:] {
		if x.lanes < w.lanes {
			w = x
		}
	}
	w.lanes++
	return &Lane{pool: p, w: w}
}

// chunkBytes is the size of the chunks Alloc carves. A multiple of the page size, so that a chunk
// starts on a page of its own: cores prefetch neighbouring lines of what they touch, within a
// page, and another writer's objects there were pulled back and forth between the cores (fan-out
// to 500 subscribers each on its own lane, GOMAXPROCS=2: 1.05x the throughput of one core, 1.5-1.7x
// with downtracks from per-writer chunks).
const chunkBytes = 16 << 10

type chunkKey[T any] struct{}

// Alloc returns a new zero T from memory kept for l's writer: the state a writer's sinks rewrite
// for every packet then shares no page with another writer's. A nil lane gets new(T). Memory is
// never reused: a chunk is freed when nothing points into it any more, so a long-lived value can
// keep up to a chunk alive, dead values included. T must therefore point nowhere outside its own
// chunk: a dead value pointing out would keep what it points to (a closed downtrack, its
// connection and its participant) for as long as its chunk lives.
func Alloc[T any](l *Lane) *T {
	if l == nil {
		return new(T)
	}
	per := chunkBytes / int(max(unsafe.Sizeof(*new(T)), 1))
	if per < 2 {
		return new(T)
	}
	l.pool.mu.Lock()
	defer l.pool.mu.Unlock()
	w := l.w
	if w.chunks == nil {
		w.chunks = map[any]any{}
	}
	rest, _ := w.chunks[chunkKey[T]{}].([]T)
	if len(rest) == 0 {
		rest = make([]T, per)
	}
	w.chunks[chunkKey[T]{}] = rest[1:]
	return &rest[0]
}

// Lane is a subscriber connection's writer.
type Lane struct {
	pool     *Pool
	w        *writer
	released atomic.Bool
}

// Index is the lane's writer in the pool, 0 to Size()-1 (the lane a Batcher is told of).
func (l *Lane) Index() int { return l.w.index }

// Release gives the lane's share of its writer back (once; later calls do nothing).
func (l *Lane) Release() {
	if l == nil || !l.released.CompareAndSwap(false, true) {
		return
	}
	l.pool.mu.Lock()
	l.w.lanes--
	l.pool.mu.Unlock()
}

// group is a track's sinks on one writer. A track's groups are allocated together and each is
// written by a different writer for every packet: each is padded to whole 128-byte line pairs.
type group struct {
	groupState
	_ [(128 - unsafe.Sizeof(groupState{})%128) % 128]byte
}

type groupState struct {
	w     *writer
	f     *Forwarder
	sinks atomic.Pointer[[]Sink]
	// queued counts this group's packets waiting in the writer's queue (see QueueSize).
	queued atomic.Int32
}

type owned struct {
	s    Sink
	lane *Lane
}

// Forwarder distributes one track's packets.
type Forwarder struct {
	pool   *Pool
	mu     sync.Mutex // serialises membership changes
	groups atomic.Pointer[[]*group]
	// own are the lanes taken for sinks added without one, released when they go.
	own     []owned
	closed  bool
	dropped atomic.Uint64
}

// New makes an empty forwarder writing on pool's writers.
func New(pool *Pool) *Forwarder {
	f := &Forwarder{pool: pool}
	empty := []*group{}
	f.groups.Store(&empty)
	return f
}

// Dispatch queues p for every writer with sinks of this track. It never blocks: a writer that is
// behind misses the packet (its subscribers recover through NACK or a keyframe).
func (f *Forwarder) Dispatch(layer int8, p *packetcache.Packet) {
	for _, g := range *f.groups.Load() {
		if g.queued.Add(1) > QueueSize {
			g.queued.Add(-1)
			f.dropped.Add(1)
			continue
		}
		select {
		case g.w.ch <- item{g: g, p: p, layer: layer}:
		default:
			g.queued.Add(-1)
			f.dropped.Add(1)
		}
	}
}

// DispatchStaged is Dispatch through s: the packet waits there until s is flushed.
func (f *Forwarder) DispatchStaged(s *Stage, layer int8, p *packetcache.Packet) {
	for _, g := range *f.groups.Load() {
		if g.queued.Add(1) > QueueSize {
			g.queued.Add(-1)
			f.dropped.Add(1)
			continue
		}
		s.items = append(s.items, item{g: g, p: p, layer: layer})
	}
	if len(s.items) >= stageMax {
		s.Flush()
	}
}

// stageMax bounds what a Stage holds, far below the packet caches' size (see QueueSize).
const stageMax = 64

// Stage holds the packets one goroutine dispatches until it flushes them. The socket's reader
// dispatches each packet it reads; handed to the writers one at a time, every packet of a burst
// woke a writer again (the writer, on the other core, was done with the last one before the next
// came), and each wake-up costs both cores the scheduler's round of looking for work. Flushed when
// the socket is empty, a burst wakes each writer once, and its packets leave in one batch.
// A Stage is used from one goroutine only.
type Stage struct {
	items []item
}

// Flush queues what s holds for the writers, in the order it was dispatched.
func (s *Stage) Flush() {
	for i, it := range s.items {
		select {
		case it.g.w.ch <- it:
		default:
			it.g.queued.Add(-1)
			it.g.f.dropped.Add(1)
		}
		s.items[i] = item{}
	}
	s.items = s.items[:0]
}

// Dropped returns the packets writers missed because they were behind.
func (f *Forwarder) Dropped() uint64 { return f.dropped.Load() }

// Add starts forwarding to s on lane's writer; with a nil lane, on a lane of its own (the least
// loaded writer), released when s is removed.
func (f *Forwarder) Add(s Sink, lane *Lane) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	if lane == nil {
		lane = f.pool.Lane()
		f.own = append(f.own, owned{s, lane})
	}
	w := lane.w
	gs := *f.groups.Load()
	for _, g := range gs {
		if g.w == w {
			old := *g.sinks.Load()
			ns := append(append(make([]Sink, 0, len(old)+1), old...), s)
			g.sinks.Store(&ns)
			return
		}
	}
	g := &group{groupState: groupState{w: w, f: f}}
	g.sinks.Store(&[]Sink{s})
	ngs := append(append(make([]*group, 0, len(gs)+1), gs...), g)
	f.groups.Store(&ngs)
}

// Remove stops forwarding to s. When it returns, s may still receive the packet being written.
func (f *Forwarder) Remove(s Sink) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, o := range f.own {
		if o.s == s {
			f.own = append(f.own[:i], f.own[i+1:]...)
			o.lane.Release()
			break
		}
	}
	gs := *f.groups.Load()
	for gi, g := range gs {
		old := *g.sinks.Load()
		for i, x := range old {
			if x != s {
				continue
			}
			ns := append(append(make([]Sink, 0, len(old)-1), old[:i]...), old[i+1:]...)
			g.sinks.Store(&ns)
			if len(ns) == 0 {
				// Packets still queued for the group find its list empty.
				ngs := append(append(make([]*group, 0, len(gs)-1), gs[:gi]...), gs[gi+1:]...)
				f.groups.Store(&ngs)
			}
			return
		}
	}
}

// Len returns the number of sinks.
func (f *Forwarder) Len() int {
	n := 0
	for _, g := range *f.groups.Load() {
		n += len(*g.sinks.Load())
	}
	return n
}

// Writers returns the number of writers this track's packets go to.
func (f *Forwarder) Writers() int { return len(*f.groups.Load()) }

// Close removes every sink; later Adds are ignored and Dispatch does nothing.
func (f *Forwarder) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, g := range *f.groups.Load() {
		g.sinks.Store(&[]Sink{})
	}
	empty := []*group{}
	f.groups.Store(&empty)
	for _, o := range f.own {
		o.lane.Release()
	}
	f.own = nil
}
