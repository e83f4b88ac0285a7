package bwe

import (
	"encoding/binary"
	"errors"
)

// Transport-wide feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01, RTCP PT 205 FMT 15)
// is read here straight from the packet: a subscriber sends one every 50-100 ms, and pion's parser
// allocates a chunk and a delta object per entry, which made feedback the node's largest source of
// garbage.

var errFeedback = errors.New("bwe: malformed transport-wide feedback")

// Packet status symbols.
const (
	symSmallDelta = 1
	symLargeDelta = 2
)

// deltaScaleUS is the unit of receive deltas (250 µs); the reference time counts 64 ms.
const (
	deltaScaleUS = 250
	refTimeUS    = 64_000
)

// parseFeedback appends to out a result for each packet the feedback pkt (one RTCP packet, header
// included) reports and h still remembers, with its send time and size from h; nowUS is when the
// feedback arrived (Unix µs), which places the send times h stores.
func parseFeedback(pkt []byte, h *History, nowUS int64, out []packetResult) ([]packetResult, error) {
	const fixed = 20 // header, two SSRCs, base sequence, status count, reference time, count
	if len(pkt) < fixed {
		return out, errFeedback
	}
	if l := (int(binary.BigEndian.Uint16(pkt[2:4])) + 1) * 4; l > len(pkt) || l < fixed {
		return out, errFeedback
	} else {
		pkt = pkt[:l]
	}
	// Padding, if any, follows the deltas and is never read.
	base := binary.BigEndian.Uint16(pkt[12:14])
	count := int(binary.BigEndian.Uint16(pkt[14:16]))
	// The reference time counts 64 ms (24 bits); only differences between arrivals matter.
	ref := int64(binary.BigEndian.Uint32(pkt[16:20])>>8) * refTimeUS

	// The chunks come first, then one delta per received packet; find where the deltas start.
	chunks := pkt[fixed:]
	nChunks, covered := 0, 0
	for covered < count {
		if 2*nChunks+2 > len(chunks) {
			return out, errFeedback
		}
		covered += chunkLen(binary.BigEndian.Uint16(chunks[2*nChunks:]))
		nChunks++
	}
	deltas := chunks[2*nChunks:]
	chunks = chunks[:2*nChunks]

	seq := base
	arrival := ref
	remaining := count
	report := func(sym uint8) error {
		if remaining == 0 {
			return nil
		}
		remaining--
		r := packetResult{}
		switch sym {
		case symSmallDelta:
			if len(deltas) < 1 {
				return errFeedback
			}
			arrival += int64(deltas[0]) * deltaScaleUS
			deltas = deltas[1:]
			r.received, r.arrivalUS = true, arrival
		case symLargeDelta:
			if len(deltas) < 2 {
				return errFeedback
			}
			arrival += int64(int16(binary.BigEndian.Uint16(deltas))) * deltaScaleUS
			deltas = deltas[2:]
			r.received, r.arrivalUS = true, arrival
		}
		// Anything else (not received, or the reserved symbol 3) reports a packet lost.
		if us, size, cluster, ok := h.lookup(seq, nowUS); ok {
			r.sendUS, r.size, r.cluster = us, size, cluster
			out = append(out, r)
		}
		seq++
		return nil
	}
	for i := 0; i < nChunks; i++ {
		c := binary.BigEndian.Uint16(chunks[2*i:])
		var err error
		switch {
		case c&0x8000 == 0: // run length: 2-bit symbol, 13-bit length
			sym, n := uint8(c>>13&3), int(c&0x1fff)
			for j := 0; j < n && remaining > 0 && err == nil; j++ {
				err = report(sym)
			}
		case c&0x4000 == 0: // status vector of 14 one-bit symbols (1: received, small delta)
			for j := 13; j >= 0 && err == nil; j-- {
				err = report(uint8(c >> j & 1))
			}
		default: // status vector of 7 two-bit symbols
			for j := 6; j >= 0 && err == nil; j-- {
				err = report(uint8(c >> (2 * j) & 3))
			}
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// chunkLen is how many packet statuses a chunk holds.
func chunkLen(c uint16) int {
	switch {
	case c&0x8000 == 0:
		return int(c & 0x1fff)
	case c&0x4000 == 0:
		return 14
	default:
		return 7
	}
}
