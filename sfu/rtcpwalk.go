package sfu

import "encoding/binary"

// RTCP packet types and feedback formats Hop acts on (RFC 4585, RFC 5104, transport-wide CC).
const (
	rtcpSR    = 200 // sender report
	rtcpRTPFB = 205 // transport-layer feedback
	rtcpPSFB  = 206 // payload-specific feedback

	fmtNACK = 1  // RTPFB: generic NACK
	fmtTWCC = 15 // RTPFB: transport-wide congestion control feedback
	fmtPLI  = 1  // PSFB: picture loss indication
	fmtFIR  = 4  // PSFB: full intra request
	fmtAFB  = 15 // PSFB: application layer feedback (REMB)
)

// nextRTCP splits the first packet off a compound RTCP packet, without parsing or allocating:
// every subscriber sends feedback many times a second, and only a few packet types matter here.
func nextRTCP(b []byte) (pkt, rest []byte, ok bool) {
	if len(b) < 8 || b[0]>>6 != 2 {
		return nil, nil, false
	}
	l := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
	if l > len(b) {
		return nil, nil, false
	}
	return b[:l], b[l:], true
}

// rtcpKind is a packet's type and feedback format (or report count).
func rtcpKind(pkt []byte) (pt, format uint8) { return pkt[1], pkt[0] & 0x1f }

// mediaSSRC is the "SSRC of media source" of a feedback packet (RFC 4585 §6.1); 0 when too short.
func mediaSSRC(pkt []byte) uint32 {
	if len(pkt) < 12 {
		return 0
	}
	return binary.BigEndian.Uint32(pkt[8:12])
}
