// Package packetcache stores the RTP packets of one stream in fixed slots indexed by sequence number.
//
// A packet is copied in once when it arrives and then read in place by every subscriber that forwards
// it and by NACK answers: no per-packet allocation, no copy per subscriber. A slot is reused when the
// sequence number wraps around the cache size, so readers must be done with a packet before that many
// newer packets arrive; the forwarder guarantees this by bounding its queues well below the cache size.
package packetcache

import (
	"errors"

	"github.com/pion/rtp"
)

// MaxPacketSize is the largest RTP packet stored (the usual Ethernet MTU).
const MaxPacketSize = 1500

// Packet is one received RTP packet and what the forwarder needs to know about it.
type Packet struct {
	Data [MaxPacketSize]byte
	// Len is the packet's size; PayloadStart and PayloadEnd bound the payload (padding excluded).
	Len          uint16
	PayloadStart uint16
	PayloadEnd   uint16

	SequenceNumber uint16
	Timestamp      uint32
	PayloadType    uint8
	Marker         bool
	// Keyframe is set on the first packet of a keyframe.
	Keyframe bool
	// TID is the temporal layer (0 when the codec does not signal one).
	TID uint8
	// FrameStart is set on the first packet of a frame, where the codec says so.
	FrameStart bool
	// LayerSync is set on frames that depend only on temporal layer 0 (VP8 Y bit): a subscriber can
	// start receiving this temporal layer there.
	LayerSync bool
	// HasTID says the codec signals temporal layers.
	HasTID bool
	// ArrivalNanos is the monotonic arrival time.
	ArrivalNanos int64
	// AudioLevel is the RFC 6464 level in -dBov (0 loudest, 127 silence); AudioLevelOK says it was present.
	AudioLevel   uint8
	AudioLevelOK bool
}

// Payload returns the packet's payload without padding.
func (p *Packet) Payload() []byte { return p.Data[p.PayloadStart:p.PayloadEnd] }

// Raw returns the whole packet as received.
func (p *Packet) Raw() []byte { return p.Data[:p.Len] }

// IsPadding reports a packet that carries only padding (bandwidth probes).
func (p *Packet) IsPadding() bool { return p.PayloadEnd == p.PayloadStart }

// Cache holds the most recent packets of one stream.
type Cache struct {
	pkts []Packet
	mask uint16
}

// ErrTooLarge is returned for a packet bigger than a slot.
var ErrTooLarge = errors.New("packetcache: packet larger than a slot")

// New makes a cache of size slots; size is rounded up to a power of two between 16 and 32768.
func New(size int) *Cache {
	n := 16
	for n < size && n < 1<<15 {
		n <<= 1
	}
	return &Cache{pkts: make([]Packet, n), mask: uint16(n - 1)}
}

// Size is the number of slots.
func (c *Cache) Size() int { return len(c.pkts) }

// Put copies raw (an RTP packet whose header h has already been parsed) into its slot and returns it.
// The caller fills the codec-specific fields before handing the slot to readers.
func (c *Cache) Put(raw []byte, h *rtp.Header, headerLen int, arrival int64) (*Packet, error) {
	if len(raw) > MaxPacketSize {
		return nil, ErrTooLarge
	}
	end := len(raw)
	if h.Padding {
		pad := int(h.PaddingSize)
		if pad == 0 && end > 0 {
			pad = int(raw[end-1])
		}
		if pad == 0 || pad > end-headerLen {
			return nil, errors.New("packetcache: invalid padding length")
		}
		end -= pad
	}
	p := &c.pkts[h.SequenceNumber&c.mask]
	copy(p.Data[:], raw)
	p.Len = uint16(len(raw))
	p.PayloadStart = uint16(headerLen)
	p.PayloadEnd = uint16(end)
	p.SequenceNumber = h.SequenceNumber
	p.Timestamp = h.Timestamp
	p.PayloadType = h.PayloadType
	p.Marker = h.Marker
	p.Keyframe = false
	p.TID = 0
	p.FrameStart = false
	p.LayerSync = false
	p.HasTID = false
	p.ArrivalNanos = arrival
	p.AudioLevelOK = false
	return p, nil
}

// Get returns the packet with sequence number seq if it is still cached.
func (c *Cache) Get(seq uint16) (*Packet, bool) {
	p := &c.pkts[seq&c.mask]
	if p.Len == 0 || p.SequenceNumber != seq {
		return nil, false
	}
	return p, true
}
