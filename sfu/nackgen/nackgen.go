// Package nackgen decides, as a stream's packets arrive, which missing ones to ask the sender for
// again (RTCP generic NACK, RFC 4585).
//
// It runs on the goroutine that receives the stream and keeps no timer: a gap is asked for as soon
// as the packet after it shows it, and asked again when a later packet arrives at least RetryAfter
// after the last request. A timer per connection (pion's generator ticks every few milliseconds for
// every publisher, lost packets or not) wakes an idle core each time; packets arrive anyway. A
// stream that stops sending has nothing more to repair until it resumes.
package nackgen

// Limits of what is asked for again.
const (
	// Window: a packet further than this behind the newest is not asked for any more (the
	// sender's history and the receiver's jitter buffer are both shorter).
	Window = 512
	// MaxMissing bounds the packets waiting to be asked for; beyond it the oldest are given up
	// (a longer burst is repaired by a keyframe, not by retransmission).
	MaxMissing = 128
	// MaxTries is how many times a packet is asked for.
	MaxTries = 10
	// RetryAfter is the shortest time between two requests for a packet (ns): a round trip on
	// the paths meetings use, as pion's generator interval was.
	RetryAfter = 20_000_000
)

type missing struct {
	last  int64 // when last asked for (Unix ns), if tries > 0
	seq   uint16
	tries uint8
}

// Generator follows one stream's sequence numbers. The zero value is ready; it is not safe for
// concurrent use.
type Generator struct {
	started bool
	highest uint16
	n       int
	missing [MaxMissing]missing // in sequence order, oldest first
}

// Push records the arrival of packet seq at now (Unix ns) and appends to dst the sequence numbers
// to ask for now. It allocates nothing unless dst must grow.
func (g *Generator) Push(seq uint16, now int64, dst []uint16) []uint16 {
	if !g.started {
		g.started, g.highest = true, seq
		return dst
	}
	switch d := seq - g.highest; {
	case d == 0:
	case d < 0x8000: // newer
		if d >= Window {
			g.n = 0 // a jump (the sender restarted its numbering): nothing before it is wanted
		} else {
			for s := g.highest + 1; s != seq; s++ {
				g.add(s)
			}
		}
		g.highest = seq
	default: // older: late or sent again
		g.remove(seq)
	}
	if g.n == 0 {
		return dst
	}
	j := 0
	for i := 0; i < g.n; i++ {
		m := g.missing[i]
		if m.tries >= MaxTries || g.highest-m.seq >= Window {
			continue
		}
		if m.tries == 0 || now-m.last >= RetryAfter {
			dst = append(dst, m.seq)
			m.tries++
			m.last = now
		}
		g.missing[j] = m
		j++
	}
	g.n = j
	return dst
}

// Missing is how many packets are still being asked for.
func (g *Generator) Missing() int { return g.n }

func (g *Generator) add(seq uint16) {
	if g.n == MaxMissing {
		copy(g.missing[:], g.missing[1:])
		g.n--
	}
	g.missing[g.n] = missing{seq: seq}
	g.n++
}

func (g *Generator) remove(seq uint16) {
	for i := 0; i < g.n; i++ {
		if g.missing[i].seq == seq {
			copy(g.missing[i:g.n], g.missing[i+1:g.n])
			g.n--
			return
		}
	}
}
