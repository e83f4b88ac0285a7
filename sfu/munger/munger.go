// Package munger rewrites the sequence numbers, timestamps and VP8 picture numbering of a forwarded
// stream so that a subscriber sees one continuous stream while the SFU switches between simulcast
// layers and drops packets it does not forward (padding).
//
// A Munger belongs to one downtrack and is used by one goroutine at a time.
package munger

import "github.com/hop-meet/hop/sfu/codecs"

// offsetChange records that packets from sequence number From on use Offset. Keeping a few of them
// lets a late (reordered) packet get the offset that was in force when it was sent.
type offsetChange struct {
	from   uint16
	offset uint16
}

const (
	maxChanges = 16
	// lateWindow is how far behind the newest packet a late packet is still forwarded; anything
	// older is of no use to a real-time receiver.
	lateWindow = 1024
)

// Munger maps incoming (sequence number, timestamp) pairs of the current source layer to outgoing ones.
type Munger struct {
	started bool

	// Out = in - seqOffset; tsOut = tsIn - tsOffset.
	seqOffset uint16
	tsOffset  uint32

	highestIn  uint16 // highest sequence number seen on the current layer
	layerStart uint16 // first sequence number of the current layer
	lastOutSeq uint16
	lastOutTS  uint32
	lastNanos  int64

	changes  [maxChanges]offsetChange
	nChanges int

	// sent has a bit per sequence number of the late window (seq % lateWindow) set once that number
	// was forwarded, to drop late duplicates. A bit is cleared when highestIn moves onto its slot,
	// so within [oldest, highestIn] each bit speaks for exactly one sequence number.
	sent [lateWindow / 64]uint64

	// VP8 picture numbering.
	vp8          bool
	picIDOffset  uint16
	tl0Offset    uint8
	lastPicID    uint16
	lastTL0      uint8
	havePicState bool
	// pendingVP8Rebase makes the next VP8 packet compute new picture offsets (set by Switch).
	pendingVP8Rebase bool
}

// Result is what Munge decided for one packet.
type Result struct {
	// Drop: send nothing.
	Drop bool
	// Fill: send a padding-only packet with SeqNo instead of the packet, closing a hole the
	// subscriber would otherwise ask for in vain.
	Fill      bool
	SeqNo     uint16
	Timestamp uint32
	// Hole counts the sequence numbers just before SeqNo left open for packets that did not come
	// (yet): a late one takes its number, or the subscriber's NACK asks for it.
	Hole uint16
}

// SetVP8 enables VP8 picture-ID and TL0PICIDX continuity.
func (m *Munger) SetVP8(on bool) { m.vp8 = on }

// Started reports whether any packet has been forwarded.
func (m *Munger) Started() bool { return m.started }

// LastOut returns the last outgoing sequence number and timestamp.
func (m *Munger) LastOut() (uint16, uint32) { return m.lastOutSeq, m.lastOutTS }

// Switch makes the packet (seq, ts) arriving at nanos the first of a new source (a new layer, or the
// first packet at all). The outgoing stream continues from the last packet sent: the next sequence
// number, and a timestamp advanced by the wall-clock time since then at clockRate.
func (m *Munger) Switch(seq uint16, ts uint32, nanos int64, clockRate uint32) {
	if !m.started {
		m.seqOffset = 0
		m.tsOffset = 0
		m.lastOutSeq = seq - 1
		m.lastOutTS = ts
	} else {
		m.seqOffset = seq - (m.lastOutSeq + 1)
		elapsed := nanos - m.lastNanos
		if elapsed < 0 {
			elapsed = 0
		}
		step := uint32(uint64(elapsed) * uint64(clockRate) / 1e9)
		if step == 0 {
			step = 1
		}
		m.tsOffset = ts - (m.lastOutTS + step)
	}
	m.started = true
	m.highestIn = seq - 1
	m.layerStart = seq
	m.nChanges = 0
	m.recordChange(seq)
	m.sent = [lateWindow / 64]uint64{}
	m.pendingVP8Rebase = true
}

func (m *Munger) recordChange(from uint16) {
	if m.nChanges == maxChanges {
		copy(m.changes[:], m.changes[1:])
		m.nChanges--
	}
	m.changes[m.nChanges] = offsetChange{from: from, offset: m.seqOffset}
	m.nChanges++
}

// seqLess reports a < b in RTP sequence-number arithmetic.
func seqLess(a, b uint16) bool { return a != b && b-a < 0x8000 }

// oldest is the oldest sequence number still forwarded: the layer's first, or lateWindow behind
// the newest, whichever is later.
func (m *Munger) oldest() uint16 {
	if m.highestIn-m.layerStart < 0x8000 && m.highestIn-m.layerStart >= lateWindow {
		return m.highestIn - lateWindow + 1
	}
	if seqLess(m.highestIn, m.layerStart) { // nothing forwarded on this layer yet
		return m.layerStart
	}
	if m.highestIn-m.layerStart >= 0x8000 {
		return m.highestIn - lateWindow + 1
	}
	return m.layerStart
}

func (m *Munger) markSent(seq uint16) {
	i := seq % lateWindow
	m.sent[i/64] |= 1 << (i % 64)
}

func (m *Munger) wasSent(seq uint16) bool {
	i := seq % lateWindow
	return m.sent[i/64]&(1<<(i%64)) != 0
}

// advance makes seq (newer than highestIn) the highest sequence number, forgetting what the slots
// it moves onto said about the numbers lateWindow before.
func (m *Munger) advance(seq uint16) {
	if gap := seq - m.highestIn; gap >= lateWindow {
		m.sent = [lateWindow / 64]uint64{}
	} else {
		for s := m.highestIn + 1; s != seq+1; s++ {
			i := s % lateWindow
			m.sent[i/64] &^= 1 << (i % 64)
		}
	}
	m.highestIn = seq
}

// Munge maps one packet of the current layer. skip says the packet is not to be forwarded (padding,
// or a temporal layer the subscriber does not get): right after the previous packet, it is dropped
// and the following sequence numbers close the gap; after a gap or late, its number is filled with
// padding instead.
func (m *Munger) Munge(seq uint16, ts uint32, nanos int64, skip bool) Result {
	if !m.started {
		return Result{Drop: true}
	}
	if seqLess(m.highestIn, seq) { // in order (possibly after a gap)
		if m.highestIn-m.layerStart < 0x8000 && seq-m.layerStart >= 0x8000 {
			// More than half the sequence space forwarded on this layer: keep the layer start
			// within reach so sequence-number comparisons stay meaningful.
			m.layerStart = seq - lateWindow
		}
		if skip && seq == m.highestIn+1 {
			m.advance(seq)
			m.seqOffset++
			m.recordChange(seq + 1)
			m.markSent(seq) // handled: a late copy must not take a number
			return Result{Drop: true}
		}
		hole := seq - m.highestIn - 1
		m.advance(seq)
		out := seq - m.seqOffset
		outTS := ts - m.tsOffset
		m.lastOutSeq = out
		m.lastOutTS = outTS
		m.lastNanos = nanos
		m.markSent(seq)
		// A skipped packet after a gap keeps its number: the missing packets before it may still
		// come and need theirs. Padding goes out in its place, never its payload (a frame of a
		// temporal layer the subscriber does not get).
		return Result{SeqNo: out, Timestamp: outTS, Fill: skip, Hole: hole}
	}
	if seq == m.highestIn || seqLess(seq, m.oldest()) || m.wasSent(seq) {
		return Result{Drop: true} // a duplicate, or too old to matter
	}
	// A late packet: use the offset in force at its sequence number.
	for i := m.nChanges - 1; i >= 0; i-- {
		c := m.changes[i]
		if !seqLess(seq, c.from) {
			m.markSent(seq)
			r := Result{SeqNo: seq - c.offset, Timestamp: ts - m.tsOffset}
			if skip {
				r.Fill = true
			}
			return r
		}
	}
	return Result{Drop: true}
}

// MungeVP8 rewrites the picture ID and TL0PICIDX of a VP8 payload copied into dst (which must hold
// len(payload) bytes) so they continue across layer switches. It returns the bytes to send: payload
// itself when nothing needs rewriting, otherwise dst[:len(payload)].
func (m *Munger) MungeVP8(payload, dst []byte) []byte {
	if !m.vp8 {
		return payload
	}
	d, ok := codecs.ParseVP8(payload)
	if !ok || d.PictureIDLen == 0 {
		return payload
	}
	mask := uint16(0x7fff)
	if d.PictureIDLen == 1 {
		mask = 0x7f
	}
	if m.pendingVP8Rebase {
		m.pendingVP8Rebase = false
		if m.havePicState {
			m.picIDOffset = (d.PictureID - (m.lastPicID + 1)) & mask
			if d.TL0PicIdxPos != 0 {
				m.tl0Offset = d.TL0PicIdx - (m.lastTL0 + 1)
			}
		} else {
			m.picIDOffset, m.tl0Offset = 0, 0
		}
	}
	pid := (d.PictureID - m.picIDOffset) & mask
	tl0 := d.TL0PicIdx - m.tl0Offset
	if seqLessMask(m.lastPicID, pid, mask) || !m.havePicState {
		m.lastPicID = pid
	}
	if d.TL0PicIdxPos != 0 && (!m.havePicState || int8(tl0-m.lastTL0) > 0) {
		m.lastTL0 = tl0
	}
	m.havePicState = true
	if m.picIDOffset == 0 && m.tl0Offset == 0 {
		return payload
	}
	n := copy(dst, payload)
	writeVP8(dst[:n], &d, pid, tl0)
	return dst[:n]
}

// SkipPicture accounts a VP8 frame that is not forwarded (a dropped temporal layer): the following
// picture IDs move down by one, so the subscriber sees no gap in picture numbering.
func (m *Munger) SkipPicture() {
	if m.vp8 && m.havePicState && !m.pendingVP8Rebase {
		m.picIDOffset++
	}
}

// VP8Offsets returns the picture-ID and TL0PICIDX offsets in force, to rewrite retransmissions alike.
func (m *Munger) VP8Offsets() (uint16, uint8) { return m.picIDOffset, m.tl0Offset }

// ApplyVP8 rewrites, in place, the picture ID and TL0PICIDX of a VP8 payload by the given offsets.
func ApplyVP8(buf []byte, picOffset uint16, tl0Offset uint8) {
	d, ok := codecs.ParseVP8(buf)
	if !ok || d.PictureIDLen == 0 {
		return
	}
	mask := uint16(0x7fff)
	if d.PictureIDLen == 1 {
		mask = 0x7f
	}
	writeVP8(buf, &d, (d.PictureID-picOffset)&mask, d.TL0PicIdx-tl0Offset)
}

func writeVP8(out []byte, d *codecs.VP8Descriptor, pid uint16, tl0 uint8) {
	if d.PictureIDLen == 2 {
		out[d.PictureIDPos] = 0x80 | byte(pid>>8)
		out[d.PictureIDPos+1] = byte(pid)
	} else {
		out[d.PictureIDPos] = byte(pid) & 0x7f
	}
	if d.TL0PicIdxPos != 0 {
		out[d.TL0PicIdxPos] = tl0
	}
}

func seqLessMask(a, b, mask uint16) bool {
	half := (mask + 1) / 2
	return a != b && (b-a)&mask < half
}
