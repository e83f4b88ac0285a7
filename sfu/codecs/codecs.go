// Package codecs reads the few bits of RTP payloads an SFU needs: whether a packet starts a keyframe,
// which temporal layer it belongs to, and where the VP8 picture numbering sits so it can be rewritten.
// It never allocates and never modifies its input unless asked to.
package codecs

import "strings"

// Kind is a codec the SFU understands, derived from the MIME type once per track.
type Kind uint8

// Codec kinds.
const (
	Unknown Kind = iota
	Opus
	RED
	VP8
	VP9
	H264
	AV1
	G722
	PCMU
	PCMA
)

// FromMime maps a MIME type (any case) to a Kind.
func FromMime(mime string) Kind {
	switch strings.ToLower(mime) {
	case "audio/opus":
		return Opus
	case "audio/red":
		return RED
	case "video/vp8":
		return VP8
	case "video/vp9":
		return VP9
	case "video/h264":
		return H264
	case "video/av1":
		return AV1
	case "audio/g722":
		return G722
	case "audio/pcmu":
		return PCMU
	case "audio/pcma":
		return PCMA
	}
	return Unknown
}

// IsKeyframeStart reports whether payload is the first packet of a keyframe (for VP8, VP9 and H.264:
// the packet a decoder can start from). For codecs it does not know it answers false.
func IsKeyframeStart(k Kind, payload []byte) bool {
	switch k {
	case VP8:
		d, ok := ParseVP8(payload)
		return ok && d.IsKeyframe
	case VP9:
		return vp9KeyframeStart(payload)
	case H264:
		return h264Keyframe(payload)
	case AV1:
		return av1KeyframeStart(payload)
	}
	return false
}

// VP8Descriptor is the parsed VP8 payload descriptor (RFC 7741 §4.2) and keyframe bit.
type VP8Descriptor struct {
	// HeaderSize is the length of the payload descriptor in bytes.
	HeaderSize int
	// Start is the S bit with partition index 0: the first packet of a frame.
	Start bool
	// IsKeyframe is true on the first packet of a keyframe.
	IsKeyframe bool
	// PictureID and its position; PictureIDLen is 0 (absent), 1 (7-bit) or 2 (15-bit).
	PictureID    uint16
	PictureIDPos int
	PictureIDLen int
	// TL0PICIDX and its position (0 when absent).
	TL0PicIdx    uint8
	TL0PicIdxPos int
	// TID is the temporal layer, 0 when absent; TIDPresent says whether it was signalled.
	TID        uint8
	TIDPresent bool
	LayerSync  bool
	// KeyIdx and its position (0 when absent).
	KeyIdx    uint8
	KeyIdxPos int
}

// ParseVP8 parses a VP8 payload descriptor. ok is false for a truncated or empty payload.
func ParseVP8(p []byte) (d VP8Descriptor, ok bool) {
	if len(p) < 1 {
		return d, false
	}
	i := 0
	x := p[0]&0x80 != 0
	s := p[0]&0x10 != 0
	pid := p[0] & 0x07
	i++
	var ext byte
	if x {
		if len(p) < 2 {
			return d, false
		}
		ext = p[1]
		i++
	}
	if ext&0x80 != 0 { // I: picture ID
		if len(p) < i+1 {
			return d, false
		}
		d.PictureIDPos = i
		if p[i]&0x80 != 0 {
			if len(p) < i+2 {
				return d, false
			}
			d.PictureID = uint16(p[i]&0x7f)<<8 | uint16(p[i+1])
			d.PictureIDLen = 2
			i += 2
		} else {
			d.PictureID = uint16(p[i])
			d.PictureIDLen = 1
			i++
		}
	}
	if ext&0x40 != 0 { // L: TL0PICIDX
		if len(p) < i+1 {
			return d, false
		}
		d.TL0PicIdxPos = i
		d.TL0PicIdx = p[i]
		i++
	}
	if ext&0x30 != 0 { // T or K: TID/Y/KEYIDX byte
		if len(p) < i+1 {
			return d, false
		}
		if ext&0x20 != 0 {
			d.TID = p[i] >> 6
			d.TIDPresent = true
			d.LayerSync = p[i]&0x20 != 0
		}
		if ext&0x10 != 0 {
			d.KeyIdxPos = i
			d.KeyIdx = p[i] & 0x1f
		}
		i++
	}
	d.HeaderSize = i
	d.Start = s && pid == 0
	// The VP8 payload header's P bit is 0 on keyframes (RFC 6386 §9.1); it is present only
	// in the first packet of a frame.
	if d.Start && len(p) > i {
		d.IsKeyframe = p[i]&0x01 == 0
	}
	return d, true
}

// vp9KeyframeStart reads the VP9 payload descriptor (RFC 9628 §4.2): a packet that begins a
// frame (B), is not inter-predicted (P=0) and belongs to spatial layer 0 starts a keyframe.
func vp9KeyframeStart(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	b0 := p[0]
	interPicture := b0&0x40 != 0
	hasPicID := b0&0x80 != 0
	hasLayer := b0&0x20 != 0
	flexible := b0&0x10 != 0
	begin := b0&0x08 != 0
	if interPicture || !begin {
		return false
	}
	if !hasLayer {
		return true
	}
	i := 1
	if hasPicID {
		if len(p) < 2 {
			return false
		}
		if p[1]&0x80 != 0 {
			i += 2
		} else {
			i++
		}
	}
	if len(p) < i+1 {
		return false
	}
	sid := (p[i] >> 1) & 0x07
	_ = flexible
	return sid == 0
}

// h264Keyframe reports whether an H.264 RTP payload (RFC 6184) carries an IDR slice or SPS:
// in a single NAL unit, an aggregation (STAP-A) or the start of a fragment (FU-A).
func h264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch nal := p[0] & 0x1f; {
	case nal == 5 || nal == 7:
		return true
	case nal == 24: // STAP-A
		i := 1
		for i+2 < len(p) {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if size == 0 || i+size > len(p) {
				return false
			}
			if t := p[i] & 0x1f; t == 5 || t == 7 {
				return true
			}
			i += size
		}
	case nal == 28: // FU-A
		if len(p) < 2 {
			return false
		}
		start := p[1]&0x80 != 0
		t := p[1] & 0x1f
		return start && (t == 5 || t == 7)
	}
	return false
}

// av1KeyframeStart reads the AV1 aggregation header (N bit: first packet of a coded video sequence).
func av1KeyframeStart(p []byte) bool {
	return len(p) > 0 && p[0]&0x08 != 0
}

// REDPrimary returns the primary (newest) block of an RFC 2198 RED payload, the only one a
// receiver that does not understand RED needs. ok is false for a malformed payload.
func REDPrimary(p []byte) (block []byte, ok bool) {
	i := 0
	redundant := 0
	for {
		if i >= len(p) {
			return nil, false
		}
		if p[i]&0x80 == 0 { // last header: one byte
			i++
			break
		}
		if i+4 > len(p) {
			return nil, false
		}
		redundant += int(p[i+2]&0x03)<<8 | int(p[i+3])
		i += 4
	}
	start := i + redundant
	if start > len(p) {
		return nil, false
	}
	return p[start:], true
}
