package recorder

import "time"

// reorderWindow is how many sequence numbers the reorder buffer spans.
const reorderWindow = 512

// reorderWait is how long a hole is waited for (a NACKed packet coming again) before it is
// declared lost and the packets behind it go on.
const reorderWait = 300 * time.Millisecond

// reorder puts one stream's packets back in sequence order. A packet that stays missing is given
// up after reorderWait; the next packet out then says so (lost), so that frames that depended on it
// are not written.
type reorder struct {
	slots   [reorderWindow]*packet
	next    uint16
	held    int
	started bool
	lost    bool
}

// push adds p and emits every packet that is now in order.
func (r *reorder) push(p *packet, emit func(p *packet, lostBefore bool)) {
	if !r.started {
		r.started, r.next = true, p.seq
	}
	d := p.seq - r.next
	switch {
	case d >= 0x8000: // older than what was already emitted: late or a duplicate
		freePacket(p)
		return
	case d >= reorderWindow: // a jump: everything held is given up on
		r.flush(emit)
		r.next = p.seq
		r.lost = true
	}
	i := p.seq % reorderWindow
	if r.slots[i] != nil {
		freePacket(p)
		return
	}
	now := p.arrival // p may be emitted, and reused, by drain
	r.slots[i] = p
	r.held++
	r.drain(emit)
	r.expire(now, emit)
}

// expire gives up on the hole at the head once the packet after it waited longer than reorderWait.
func (r *reorder) expire(now int64, emit func(*packet, bool)) {
	for r.held > 0 {
		first := r.firstHeld()
		if now-first.arrival < int64(reorderWait) {
			return
		}
		r.next = first.seq
		r.lost = true
		r.drain(emit)
	}
}

// flush emits everything held, skipping the holes.
func (r *reorder) flush(emit func(*packet, bool)) {
	for r.held > 0 {
		r.next = r.firstHeld().seq
		r.lost = true
		r.drain(emit)
	}
}

func (r *reorder) firstHeld() *packet {
	for k := uint16(0); k < reorderWindow; k++ {
		if p := r.slots[(r.next+k)%reorderWindow]; p != nil {
			return p
		}
	}
	return nil
}

func (r *reorder) drain(emit func(*packet, bool)) {
	for {
		i := r.next % reorderWindow
		p := r.slots[i]
		if p == nil || p.seq != r.next {
			return
		}
		r.slots[i] = nil
		r.held--
		r.next++
		lost := r.lost
		r.lost = false
		emit(p, lost)
	}
}
