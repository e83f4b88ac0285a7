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

// An entry is one sent packet in one word, written by any sender goroutine and read by the
// feedback goroutine with one atomic operation each: 16 bits of sequence number (which tells the
// entry from the one historySize packets before it), 12 of size (0: empty), 8 of probe cluster and
// 28 of send time in microseconds, modulo 2^28 (268 s). One word rather than two halves the ring
// (16 KB per subscriber) that every packet sent writes into, and a fence per packet.
const (
	sizeBits    = 12
	clusterBits = 8
	timeBits    = 28
	maxSize     = 1<<sizeBits - 1
	timeMask    = 1<<timeBits - 1
	// MaxCluster is the highest probe cluster id an entry holds (ids run 1 to MaxCluster).
	MaxCluster = 1<<clusterBits - 1
)

func pack(seq uint16, size int, cluster uint32, us int64) uint64 {
	size = min(max(size, 1), maxSize)
	return uint64(seq) | uint64(size)<<16 | uint64(cluster&MaxCluster)<<(16+sizeBits) |
		uint64(us&timeMask)<<(16+sizeBits+clusterBits)
}

// unpack reads an entry; the send time is the one within 2^27 µs (134 s) of nowUS whose low 28
// bits were stored, so it is exact for any packet feedback can still be about.
func unpack(m uint64, nowUS int64) (seq uint16, size int, cluster uint16, us int64) {
	seq = uint16(m)
	size = int(m >> 16 & maxSize)
	cluster = uint16(m >> (16 + sizeBits) & MaxCluster)
	stored := int64(m >> (16 + sizeBits + clusterBits))
	d := (nowUS - stored) & timeMask
	if d >= 1<<(timeBits-1) {
		d -= 1 << timeBits // stored lies (slightly) after nowUS
	}
	return seq, size, cluster, nowUS - d
}

// History assigns transport-wide sequence numbers and remembers when and how big each packet was.
// It is safe for concurrent use by any number of senders, without locks.
type History struct {
	next    atomic.Uint32
	entries [historySize]atomic.Uint64
	// cluster is the probe cluster packets sent now belong to (0: none).
	cluster atomic.Uint32
}

// Record assigns the next transport-wide sequence number to a packet of size bytes sent at nanos.
func (h *History) Record(size int, nanos int64) uint16 {
	seq := uint16(h.next.Add(1) - 1)
	h.entries[seq&(historySize-1)].Store(pack(seq, size, h.cluster.Load(), nanos/1000))
	return seq
}

// lookup returns what was recorded for seq, if it is still remembered: its send time in
// microseconds (placed within 134 s of nowUS), size and probe cluster.
func (h *History) lookup(seq uint16, nowUS int64) (us int64, size int, cluster uint16, ok bool) {
	s, size, cluster, us := unpack(h.entries[seq&(historySize-1)].Load(), nowUS)
	if size == 0 || s != seq {
		return 0, 0, 0, false
	}
	return us, size, cluster, true
}
