// Package udpbatch sends the SFU's outgoing UDP packets in batches: while a forwarder writer is
// fanning a packet out, what it writes is queued, and when it is done the queue leaves in one
// sendmmsg system call instead of one sendto per subscriber. Outside such a batch, writes go
// straight to the socket.
package udpbatch

import (
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

// Conn wraps the node's UDP socket. It is a net.PacketConn, and implements the allocation-free
// address-port methods pion's ICE mux uses.
type Conn struct {
	*net.UDPConn
	sender sender

	open atomic.Int32 // batch scopes in progress

	mu   sync.Mutex // guards cur and spare; never held during a system call
	cur  *batch
	pool sync.Pool

	batches, packets atomic.Uint64
}

// New wraps c.
func New(c *net.UDPConn) (*Conn, error) {
	b := &Conn{UDPConn: c}
	if err := b.sender.init(c); err != nil {
		return nil, err
	}
	b.pool.New = func() any { return new(batch) }
	b.cur = b.pool.Get().(*batch)
	return b, nil
}

// Begin opens a batch scope: writes until the matching End are queued.
func (c *Conn) Begin() { c.open.Add(1) }

// End closes a batch scope and sends what is queued.
func (c *Conn) End() {
	c.open.Add(-1)
	c.Flush()
}

// Flush sends what is queued now.
func (c *Conn) Flush() {
	c.mu.Lock()
	b := c.cur
	if b.n == 0 {
		c.mu.Unlock()
		return
	}
	c.cur = c.pool.Get().(*batch)
	c.mu.Unlock()
	c.send(b)
}

func (c *Conn) send(b *batch) {
	c.sender.send(c, b)
	c.batches.Add(1)
	c.packets.Add(uint64(b.n))
	b.n = 0
	c.pool.Put(b)
}

// Stats returns how many system calls sent how many queued packets.
func (c *Conn) Stats() (batches, packets uint64) { return c.batches.Load(), c.packets.Load() }

// WriteToAddrPort queues p for addr inside a batch scope, or sends it at once.
func (c *Conn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if c.open.Load() == 0 || len(p) > slotSize {
		return c.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	c.mu.Lock()
	b := c.cur
	if b.n == MaxBatch {
		c.cur = c.pool.Get().(*batch)
		c.mu.Unlock()
		c.send(b)
		c.mu.Lock()
		b = c.cur
	}
	i := b.n
	b.lens[i] = copy(b.bufs[i][:], p)
	b.addrs[i] = addr
	b.n++
	c.mu.Unlock()
	if c.open.Load() == 0 {
		// The scope closed while this was being queued: nobody else will flush it.
		c.Flush()
	}
	return len(p), nil
}

// ReadFromAddrPort reads one packet.
func (c *Conn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(p)
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
