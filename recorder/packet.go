package recorder

import (
	"sync"

	"github.com/hop-meet/hop/sfu/packetcache"
)

// packet is a recorder's own copy of an RTP packet: the packet cache's slot is reused once the
// forwarder moves on, and the recorder's goroutine may be behind.
type packet struct {
	seq      uint16
	ts       uint32
	marker   bool
	keyframe bool
	layer    int8
	arrival  int64
	// level is the RFC 6464 audio level (-dBov) when levelOK.
	level   uint8
	levelOK bool
	n       int
	buf     [packetcache.MaxPacketSize]byte
}

func (p *packet) payload() []byte { return p.buf[:p.n] }

var packets = sync.Pool{New: func() any { return new(packet) }}

func newPacket(layer int8, src *packetcache.Packet) *packet {
	p := packets.Get().(*packet)
	p.seq = src.SequenceNumber
	p.ts = src.Timestamp
	p.marker = src.Marker
	p.keyframe = src.Keyframe
	p.layer = layer
	p.arrival = src.ArrivalNanos
	p.level, p.levelOK = src.AudioLevel, src.AudioLevelOK
	p.n = copy(p.buf[:], src.Payload())
	return p
}

func freePacket(p *packet) { packets.Put(p) }
