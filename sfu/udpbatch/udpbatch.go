// Package udpbatch sends the SFU's outgoing UDP packets in batches: while a forwarder writer is
// fanning a packet out, what it writes is queued, and when it is done the queue leaves in one
// sendmmsg system call instead of one sendto per subscriber. A write outside such a batch leaves
// at once, through the same queue. Sends and reads use raw system calls on the non-blocking
// socket (see reader).
//
// Each forwarder writer has a lane: a batch of its own, filled with what is written to the
// addresses routed to it (its subscribers). A writer's packets are then copied into memory only
// its core writes, under a lock nobody else takes, instead of into one batch every core fills
// under one lock.
package udpbatch

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// MaxBatch is the most packets one system call sends.
const MaxBatch = 128

const slotSize = 1500

// batch is a set of queued packets and the kernel structures to send them.
type batch struct {
	n     int
	lens  [MaxBatch]int
	addrs [MaxBatch]netip.AddrPort
	bufs  [MaxBatch][slotSize]byte
	sys   sysState
}

// maxSealed bounds the batches waiting for the sending goroutine; past it, new batches are
// dropped as a full socket buffer would drop them.
const maxSealed = 256

// Conn wraps the node's UDP socket. It is a net.PacketConn, and implements the allocation-free
// address-port methods pion's ICE mux uses.
//
// All writers share the batch being filled. A full or finished batch is sealed into a FIFO, and
// one goroutine at a time (whoever finds nobody sending) sends the FIFO's batches in order: a
// writer's packets thus leave in the order it wrote them, and nobody ever waits for another's
// system call (one that finds a send in progress leaves its batch to that sender).
type Conn struct {
	*net.UDPConn
	sender sender
	reader reader
	tap    atomic.Pointer[Tap]

	open atomic.Int32 // batch scopes in progress

	mu      sync.Mutex // guards what follows; never held during a system call
	cur     *batch
	sealed  []*batch // FIFO of batches to send
	sending bool     // a goroutine is draining sealed
	// closed says Close was called (set under mu): the sender's socket is released once no send
	// is running, and writes are refused. Writes read it without mu.
	closed atomic.Bool
	// free holds sent batches for reuse. Not a sync.Pool: a collection would drop its batches
	// and the next sends allocate them again, 400 KB each.
	free chan *batch

	batches, packets, dropped atomic.Uint64
	messages                  atomic.Uint64 // see Messages
	// overflow counts sends the send-only socket refused for a full buffer (see Listen).
	overflow atomic.Uint64

	lanes       []*lane
	lanePackets atomic.Uint64 // packets sent from lanes' batches
	routes      atomic.Pointer[map[netip.AddrPort]int]
	routeMu     sync.Mutex // serialises route changes
}

// lane is one writer's batch being filled.
type lane struct {
	mu   sync.Mutex
	open bool // the writer is inside Begin/End
	cur  *batch
	_    [128 - 24]byte // its own cache lines: each lane is written from its own core
}

// maxFree bounds the batches kept for reuse, besides those being filled (one per lane and the
// shared one): enough for those waiting to be sent at meeting rates; more are allocated when a
// burst needs them, and let go. Each is 190 KB, resident once its slots have been written: 16
// kept were 0.1 MB of every subscriber's share of the node's memory in the end-to-end run.
const maxFree = 4

// get returns an empty batch.
func (c *Conn) get() *batch {
	select {
	case b := <-c.free:
		return b
	default:
		return new(batch)
	}
}

// put gives a sent batch back.
func (c *Conn) put(b *batch) {
	b.n = 0
	select {
	case c.free <- b:
	default:
	}
}

// New wraps c.
func New(c *net.UDPConn) (*Conn, error) {
	b := &Conn{UDPConn: c, sealed: make([]*batch, 0, maxSealed)}
	if err := b.sender.init(c); err != nil {
		return nil, err
	}
	if err := b.reader.init(c); err != nil {
		return nil, err
	}
	b.free = make(chan *batch, maxFree)
	b.cur = b.get()
	return b, nil
}

// wrap makes a Conn of a freshly opened packet socket, closing it on failure.
func wrap(pc net.PacketConn, network string) (*Conn, error) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("udpbatch: %s is not a UDP network", network)
	}
	c, err := New(uc)
	if err != nil {
		_ = uc.Close()
		return nil, err
	}
	return c, nil
}

// SetLanes gives the Conn n lanes (one per forwarder writer). Call it before any write.
func (c *Conn) SetLanes(n int) {
	c.lanes = make([]*lane, n)
	for i := range c.lanes {
		c.lanes[i] = &lane{cur: c.get()}
	}
}

// routeKey spells an address one way: an IPv4 peer may be written to as IPv4 or IPv4-mapped IPv6.
func routeKey(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// Route queues what lane i's scope writes to addr in lane i's batch (i out of range: unroute).
// Routes change when ICE picks a pair: packets to addr queued on either side of a change in one
// scope may leave out of order, once.
func (c *Conn) Route(addr netip.AddrPort, i int) {
	c.routeMu.Lock()
	defer c.routeMu.Unlock()
	next := map[netip.AddrPort]int{}
	if m := c.routes.Load(); m != nil {
		for k, v := range *m {
			next[k] = v
		}
	}
	if i >= 0 && i < len(c.lanes) {
		next[routeKey(addr)] = i
	} else {
		delete(next, routeKey(addr))
	}
	c.routes.Store(&next)
}

// Unroute sends what is written to addr through the shared batch again.
func (c *Conn) Unroute(addr netip.AddrPort) { c.Route(addr, -1) }

// Routes returns how many addresses are routed to a lane.
func (c *Conn) Routes() int {
	if m := c.routes.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// LanePackets returns how many packets were queued in lanes' batches.
func (c *Conn) LanePackets() uint64 { return c.lanePackets.Load() }

// Begin opens a batch scope for lane i (out of range: no lane): writes until the matching End are
// queued.
func (c *Conn) Begin(i int) {
	c.open.Add(1)
	if i >= 0 && i < len(c.lanes) {
		l := c.lanes[i]
		l.mu.Lock()
		l.open = true
		l.mu.Unlock()
	}
}

// End closes lane i's batch scope and sends what is queued.
func (c *Conn) End(i int) {
	var b *batch
	if i >= 0 && i < len(c.lanes) {
		l := c.lanes[i]
		l.mu.Lock()
		l.open = false
		if l.cur.n > 0 {
			b, l.cur = l.cur, c.get()
		}
		l.mu.Unlock()
	}
	c.open.Add(-1)
	if b != nil {
		c.lanePackets.Add(uint64(b.n))
	}
	c.mu.Lock()
	if b != nil {
		c.pushLocked(b)
	}
	c.sealLocked()
	c.drainLocked()
}

// Flush sends what is queued now (or leaves it to the goroutine already sending).
func (c *Conn) Flush() {
	c.mu.Lock()
	c.sealLocked()
	c.drainLocked()
}

// sealLocked moves the shared batch being filled to the FIFO.
func (c *Conn) sealLocked() {
	if c.cur.n == 0 {
		return
	}
	c.pushLocked(c.cur)
	c.cur = c.get()
}

// pushLocked appends b to the FIFO, or drops its packets when the FIFO is full.
func (c *Conn) pushLocked(b *batch) {
	if len(c.sealed) == maxSealed {
		c.dropped.Add(uint64(b.n))
		b.n = 0
		c.put(b)
		return
	}
	c.sealed = append(c.sealed, b)
}

// drainLocked sends the FIFO unless another goroutine is at it; it is called with mu held and
// returns with it released.
func (c *Conn) drainLocked() {
	if c.sending {
		c.mu.Unlock()
		return
	}
	c.sending = true
	for len(c.sealed) > 0 && !c.closed.Load() {
		b := c.sealed[0]
		copy(c.sealed, c.sealed[1:])
		c.sealed = c.sealed[:len(c.sealed)-1]
		c.mu.Unlock()
		c.sender.send(c, b)
		c.batches.Add(1)
		c.packets.Add(uint64(b.n))
		b.n = 0
		c.put(b)
		c.mu.Lock()
	}
	c.sending = false
	if c.closed.Load() {
		c.sender.close()
	}
	c.mu.Unlock()
}

// Close closes the socket. What is still queued is not sent.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed.Store(true)
	if !c.sending {
		c.sender.close()
	}
	c.mu.Unlock()
	return c.UDPConn.Close()
}

// Stats returns how many system calls sent how many queued packets, and how many queued packets
// were dropped because the sender could not keep up.
func (c *Conn) Stats() (batches, packets, dropped uint64) {
	return c.batches.Load(), c.packets.Load(), c.dropped.Load()
}

// Messages returns how many messages the system calls carried: one per packet, or fewer where
// the kernel cut a message into several packets (see GSO).
func (c *Conn) Messages() uint64 { return c.messages.Load() }

// Overflows returns how many times the send-only socket's buffer was full and a batch's rest went
// through the read socket instead.
func (c *Conn) Overflows() uint64 { return c.overflow.Load() }

// WriteToAddrPort queues p for addr inside a batch scope. Outside one, p is sent at once, through
// the same queue: it leaves in order after what is already queued, and if another goroutine is
// sending, that goroutine takes it along and this one makes no system call.
func (c *Conn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > slotSize {
		return c.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	if m := c.routes.Load(); m != nil && len(*m) > 0 {
		if i, ok := (*m)[routeKey(addr)]; ok && c.writeLane(c.lanes[i], p, addr) {
			return len(p), nil
		}
	}
	c.mu.Lock()
	b := c.cur
	i := b.n
	b.lens[i] = copy(b.bufs[i][:], p)
	b.addrs[i] = addr
	b.n++
	if b.n == MaxBatch || c.open.Load() == 0 {
		// Full, outside a scope, or the scope closed while this was queued and nobody else
		// will flush it.
		c.sealLocked()
		c.drainLocked()
	} else {
		c.mu.Unlock()
	}
	return len(p), nil
}

// writeLane queues p in l's batch if its writer is inside a scope, and reports whether it did.
func (c *Conn) writeLane(l *lane, p []byte, addr netip.AddrPort) bool {
	l.mu.Lock()
	if !l.open {
		l.mu.Unlock()
		return false
	}
	b := l.cur
	b.lens[b.n] = copy(b.bufs[b.n][:], p)
	b.addrs[b.n] = addr
	c.queuedLocked(l)
	return true
}

// queuedLocked counts the packet just put in l's batch and releases l; a full batch is sealed
// and sent.
func (c *Conn) queuedLocked(l *lane) {
	b := l.cur
	b.n++
	if b.n < MaxBatch {
		l.mu.Unlock()
		return
	}
	l.cur = c.get()
	l.mu.Unlock()
	c.lanePackets.Add(uint64(b.n))
	c.mu.Lock()
	c.pushLocked(b)
	c.drainLocked()
}

// SlotSize is the room a batch slot has for one packet.
const SlotSize = slotSize

// Reserve returns the next free slot of lane i's batch, for the caller to build a packet in
// place (no copy), when lane i's writer is inside Begin/End; nil otherwise, or for a lane that
// does not exist. A non-nil slot holds the lane until Commit, which must follow on the same
// goroutine with nothing in between that could wait on the lane.
func (c *Conn) Reserve(i int) []byte {
	if i < 0 || i >= len(c.lanes) || c.closed.Load() {
		return nil
	}
	l := c.lanes[i]
	l.mu.Lock()
	if !l.open {
		l.mu.Unlock()
		return nil
	}
	return l.cur.bufs[l.cur.n][:]
}

// Commit queues the first n bytes of the slot Reserve(i) returned, for addr, and releases the
// lane; n = 0 queues nothing.
func (c *Conn) Commit(i int, addr netip.AddrPort, n int) {
	l := c.lanes[i]
	if n <= 0 || n > slotSize {
		l.mu.Unlock()
		return
	}
	b := l.cur
	b.lens[b.n] = n
	b.addrs[b.n] = addr
	c.queuedLocked(l)
}

// Tap, if set, is shown every packet read before the reader gets it; a packet it takes (returns
// true for) is not returned, and the read goes on to the next one. It runs on the reading
// goroutine, one packet at a time, and must not keep p.
type Tap func(p []byte, from netip.AddrPort) bool

// SetTap installs t (nil: none), and idle, which the reading goroutine calls when it finds the
// socket empty, before it waits: what the tap took from a burst of packets can be passed on at
// once. Call it before the first read.
func (c *Conn) SetTap(t Tap, idle func()) {
	c.reader.idle = idle
	if t == nil {
		c.tap.Store(nil)
		return
	}
	c.tap.Store(&t)
}

// ReadFromAddrPort reads one packet.
func (c *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	for {
		n, from, err := c.reader.read(c, p)
		if err != nil {
			return n, from, err
		}
		if t := c.tap.Load(); t != nil && (*t)(p[:n], from) {
			continue
		}
		return n, from, nil
	}
}

// ReadFrom implements net.PacketConn, through the tap as ReadFromAddrPort.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromAddrPort(p)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteTo implements net.PacketConn.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(p, ua.AddrPort())
	}
	return c.UDPConn.WriteTo(p, addr)
}

// SetDeadline and the others keep net.PacketConn's behaviour.
func (c *Conn) SetDeadline(t time.Time) error { return c.UDPConn.SetDeadline(t) }
