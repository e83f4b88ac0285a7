// Package udpbatch sends the SFU's outgoing UDP packets in batches: while a forwarder writer is
// fanning a packet out, what it writes is queued, and when it is done the queue leaves in one
// sendmmsg system call instead of one sendto per subscriber. A write outside such a batch leaves
// at once, through the same queue. Sends and reads use raw system calls on the non-blocking
// socket (see reader).
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
const MaxBatch = 64

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

	open atomic.Int32 // batch scopes in progress

	mu      sync.Mutex // guards what follows; never held during a system call
	cur     *batch
	sealed  []*batch // FIFO of batches to send
	sending bool     // a goroutine is draining sealed
	closed  bool     // Close was called: the sender's socket is released once no send is running
	pool    sync.Pool

	batches, packets, dropped atomic.Uint64
	// overflow counts sends the send-only socket refused for a full buffer (see Listen).
	overflow atomic.Uint64
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
	b.pool.New = func() any { return new(batch) }
	b.cur = b.pool.Get().(*batch)
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

// Begin opens a batch scope: writes until the matching End are queued.
func (c *Conn) Begin() { c.open.Add(1) }

// End closes a batch scope and sends what is queued.
func (c *Conn) End() {
	c.open.Add(-1)
	c.Flush()
}

// Flush sends what is queued now (or leaves it to the goroutine already sending).
func (c *Conn) Flush() {
	c.mu.Lock()
	c.sealLocked()
	c.drainLocked()
}

// sealLocked moves the batch being filled to the FIFO.
func (c *Conn) sealLocked() {
	if c.cur.n == 0 {
		return
	}
	if len(c.sealed) == maxSealed {
		c.dropped.Add(uint64(c.cur.n))
		c.cur.n = 0
		return
	}
	c.sealed = append(c.sealed, c.cur)
	c.cur = c.pool.Get().(*batch)
}

// drainLocked sends the FIFO unless another goroutine is at it; it is called with mu held and
// returns with it released.
func (c *Conn) drainLocked() {
	if c.sending {
		c.mu.Unlock()
		return
	}
	c.sending = true
	for len(c.sealed) > 0 && !c.closed {
		b := c.sealed[0]
		copy(c.sealed, c.sealed[1:])
		c.sealed = c.sealed[:len(c.sealed)-1]
		c.mu.Unlock()
		c.sender.send(c, b)
		c.batches.Add(1)
		c.packets.Add(uint64(b.n))
		b.n = 0
		c.pool.Put(b)
		c.mu.Lock()
	}
	c.sending = false
	if c.closed {
		c.sender.close()
	}
	c.mu.Unlock()
}

// Close closes the socket. What is still queued is not sent.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
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
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
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

// ReadFromAddrPort reads one packet.
func (c *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return c.reader.read(c, p)
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
