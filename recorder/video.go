package recorder

import (
	"encoding/binary"

	"github.com/pion/rtp/codecs"

	hopcodecs "github.com/hop-meet/hop/sfu/codecs"
)

// frameBuilder joins the in-order packets of one video stream into whole frames. A frame with a
// missing packet is dropped, and so is everything after it until the next keyframe.
type frameBuilder struct {
	kind    hopcodecs.Kind
	vp8     codecs.VP8Packet
	vp9     codecs.VP9Packet
	h264    codecs.H264Packet
	cur     []byte
	ts      uint32
	arrival int64
	key     bool
	broken  bool
	open    bool
	needKey bool
	// width and height are read from VP8 keyframes and the VP9 scalability structure.
	width, height int
}

func newFrameBuilder(kind hopcodecs.Kind) *frameBuilder {
	b := &frameBuilder{kind: kind, needKey: true}
	b.h264.IsAVC = true
	return b
}

// push adds the next packet; done receives each complete frame (data valid only during the call).
// It returns true when a keyframe is needed from the publisher.
func (b *frameBuilder) push(p *packet, lostBefore bool, done func(ts uint32, arrival int64, key bool, data []byte)) (wantKey bool) {
	if lostBefore {
		// The open frame lost packets: its own, or its end if the new packet starts another.
		b.broken = true
		b.needKey = true
		b.h264 = codecs.H264Packet{IsAVC: true}
	}
	if b.open && p.ts != b.ts {
		b.broken = true // its last packet (the marker) never came
		b.finish(done)
		b.broken = lostBefore
	}
	if !b.open {
		b.open, b.ts, b.arrival, b.key = true, p.ts, p.arrival, false
		b.cur = b.cur[:0]
		if p.keyframe && b.kind != hopcodecs.H264 {
			b.broken = false // the frame starts here: nothing of it was lost
		}
	}
	if p.keyframe {
		b.key = true
	}
	var data []byte
	var err error
	switch b.kind {
	case hopcodecs.VP8:
		data, err = b.vp8.Unmarshal(p.payload())
	case hopcodecs.VP9:
		data, err = b.vp9.Unmarshal(p.payload())
		if err == nil && b.vp9.V && len(b.vp9.Width) > 0 {
			b.width, b.height = int(b.vp9.Width[len(b.vp9.Width)-1]), int(b.vp9.Height[len(b.vp9.Height)-1])
		}
	case hopcodecs.H264:
		data, err = b.h264.Unmarshal(p.payload())
	}
	if err != nil {
		b.broken = true
	}
	b.cur = append(b.cur, data...)
	if p.marker {
		b.finish(done)
	}
	return b.needKey
}

func (b *frameBuilder) finish(done func(uint32, int64, bool, []byte)) {
	b.open = false
	if b.broken || len(b.cur) == 0 {
		b.broken = false
		return
	}
	if b.kind == hopcodecs.VP8 && len(b.cur) >= 10 && b.cur[0]&1 == 0 && b.cur[3] == 0x9d && b.cur[4] == 0x01 && b.cur[5] == 0x2a {
		b.key = true
		b.width = int(binary.LittleEndian.Uint16(b.cur[6:]) & 0x3fff)
		b.height = int(binary.LittleEndian.Uint16(b.cur[8:]) & 0x3fff)
	}
	if b.needKey && !b.key {
		return
	}
	b.needKey = false
	done(b.ts, b.arrival, b.key, b.cur)
}

// avcConfig builds an AVCDecoderConfigurationRecord (ISO 14496-15 §5.2.4.1), the codec private
// data Matroska needs for H.264, from the SPS and PPS of a keyframe in length-prefixed form.
func avcConfig(frame []byte) ([]byte, bool) {
	var sps, pps []byte
	for rest := frame; len(rest) > 4; {
		n := int(binary.BigEndian.Uint32(rest))
		if n <= 0 || n > len(rest)-4 {
			break
		}
		nal := rest[4 : 4+n]
		switch nal[0] & 0x1f {
		case 7:
			sps = nal
		case 8:
			pps = nal
		}
		rest = rest[4+n:]
	}
	if len(sps) < 4 || len(pps) == 0 {
		return nil, false
	}
	c := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}
	c = binary.BigEndian.AppendUint16(c, uint16(len(sps)))
	c = append(c, sps...)
	c = append(c, 1)
	c = binary.BigEndian.AppendUint16(c, uint16(len(pps)))
	return append(c, pps...), true
}
