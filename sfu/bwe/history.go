// Package bwe estimates the bandwidth available towards one subscriber from transport-wide congestion
// control feedback (RFC draft holmer-rmcat-transport-wide-cc-extensions), with REMB as a fallback:
// delay growth and loss pull the estimate down quickly; while the path is clear it grows, and probes
// (padding bursts) find headroom fast when the subscriber wants more than the estimate allows.
package bwe

import (
	"sync/atomic"
)

// historySize is how many sent packets are remembered for feedback (a power of two). At 5 000
// packets a second (a subscriber receiving 40 HD tiles' worth) it covers 400 ms, several feedback
// intervals; one per subscriber, so it is kept small.
const historySize = 2048

// sentEntry is one sent packet, written by any sender goroutine and read by the feedback goroutine.
// The meta word (sequence number, size, probe cluster) is stored last and validates the entry.
type sentEntry struct {
	nanos atomic.Int64
	meta  atomic.Uint64
}

func packMeta(seq uint16, size int, cluster uint16) uint64 {
	return uint64(seq) | uint64(uint32(size)&0xffff)<<16 | uint64(cluster)<<32 | 1<<63
}

func unpackMeta(m uint64) (seq uint16, size int, cluster uint16, ok bool) {
	return uint16(m), int(uint16(m >> 16)), uint16(m >> 32), m>>63 == 1
}

// History assigns transport-wide sequence numbers and remembers when and how big each packet was.
// It is safe for concurrent use by any number of senders, without locks.
type History struct {
	next    atomic.Uint32
	entries [historySize]sentEntry
	// cluster is the probe cluster packets sent now belong to (0: none).
	cluster atomic.Uint32
}

// Record assigns the next transport-wide sequence number to a packet of size bytes sent at nanos.
func (h *History) Record(size int, nanos int64) uint16 {
	seq := uint16(h.next.Add(1) - 1)
	e := &h.entries[seq&(historySize-1)]
	e.nanos.Store(nanos)
	e.meta.Store(packMeta(seq, size, uint16(h.cluster.Load())))
	return seq
}

// lookup returns what was recorded for seq, if it is still remembered.
func (h *History) lookup(seq uint16) (nanos int64, size int, cluster uint16, ok bool) {
	e := &h.entries[seq&(historySize-1)]
	m := e.meta.Load()
	s, size, cluster, valid := unpackMeta(m)
	if !valid || s != seq {
		return 0, 0, 0, false
	}
	nanos = e.nanos.Load()
	if e.meta.Load() != m { // overwritten while reading
		return 0, 0, 0, false
	}
	return nanos, size, cluster, true
}
