package sfu

import (
	"encoding/binary"
	"time"
)

// senderClock is one of a publisher's sender reports (RFC 3550 6.4.1): the sender's wall clock
// (NTP) at an RTP time of the stream. The recorder uses it to put a stream on the sender's clock.
type senderClock struct {
	ntp time.Time
	rtp uint32
}

// fromNTP undoes ntpTime: a 64-bit NTP timestamp (32.32 fixed-point seconds since 1900).
func fromNTP(v uint64) time.Time {
	const unixToNTP = 2_208_988_800
	frac := (v & 0xffffffff) * uint64(time.Second) >> 32
	return time.Unix(int64(v>>32)-unixToNTP, int64(frac))
}

// parseSenderReport reads a sender report's SSRC, NTP and RTP time in place, without parsing the
// report blocks that follow.
func parseSenderReport(pkt []byte) (ssrc uint32, c senderClock, ok bool) {
	if len(pkt) < 28 || pkt[1] != rtcpSR {
		return 0, senderClock{}, false
	}
	ssrc = binary.BigEndian.Uint32(pkt[4:8])
	c.ntp = fromNTP(binary.BigEndian.Uint64(pkt[8:16]))
	c.rtp = binary.BigEndian.Uint32(pkt[16:20])
	return ssrc, c, true
}

// addSender lets the connection's sender reports reach r.
func (in *inbound) addSender(r *Receiver) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.senders == nil {
		in.senders = map[uint32]*Receiver{}
	}
	in.senders[r.ssrc] = r
}

// removeSender undoes addSender, unless another receiver has taken the SSRC since.
func (in *inbound) removeSender(r *Receiver) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.senders[r.ssrc] == r {
		delete(in.senders, r.ssrc)
	}
}

// senderReport keeps a sender report for the receiver of its SSRC. Reports come about once a
// second per stream, so the lookup under the lock and the small allocation cost nothing.
func (in *inbound) senderReport(pkt []byte) {
	ssrc, c, ok := parseSenderReport(pkt)
	if !ok {
		return
	}
	in.mu.Lock()
	r := in.senders[ssrc]
	in.mu.Unlock()
	if r != nil {
		r.clock.Store(&c)
	}
}

// SenderClock is the publisher's last sender report for a layer: its wall clock (NTP, on the
// sender's own clock) at RTP time rtpTS, and the stream's RTP clock rate; ok is false until one came.
func (t *Track) SenderClock(layer int8) (ntp time.Time, rtpTS uint32, clockRate uint32, ok bool) {
	if layer < 0 || layer >= MaxLayers {
		return time.Time{}, 0, 0, false
	}
	r := t.receivers[layer].Load()
	if r == nil {
		return time.Time{}, 0, 0, false
	}
	c := r.clock.Load()
	codec, known := t.Codec()
	if c == nil || !known || codec.ClockRate == 0 {
		return time.Time{}, 0, 0, false
	}
	return c.ntp, c.rtp, codec.ClockRate, true
}
