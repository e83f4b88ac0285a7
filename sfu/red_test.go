package sfu

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/packetcache"
)

// packRED gives each packet the two previous frames as redundancy, with the right offsets, and a
// receiver that reads only the primary block gets the packet's own frame.
func TestPackRED(t *testing.T) {
	cache := packetcache.New(audioCacheSize)
	frame := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 60+i) }
	var last *packetcache.Packet
	for i := 0; i < 4; i++ {
		h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(100 + i), Timestamp: uint32(960 * i)}
		raw, _ := h.Marshal()
		raw = append(raw, frame(i)...)
		p, err := cache.Put(raw, &h, 12, time.Now().UnixNano())
		if err != nil {
			t.Fatal(err)
		}
		last = p
	}
	var dst [packetcache.MaxPacketSize]byte
	out := packRED(dst[:], cache, last, last.Payload(), false, 111)
	prim, ok := codecs.REDPrimary(out)
	if !ok || !bytes.Equal(prim, frame(3)) {
		t.Fatalf("primary block %v %d bytes, want frame 3", ok, len(prim))
	}
	// Two 4-byte headers, a 1-byte last header, then frames 1 and 2 with offsets 1920 and 960.
	if out[0] != 0x80|111 || out[4] != 0x80|111 || out[8] != 111 {
		t.Fatalf("headers % x", out[:9])
	}
	off1 := uint32(out[1])<<6 | uint32(out[2])>>2
	len1 := int(out[2]&3)<<8 | int(out[3])
	if off1 != 1920 || len1 != len(frame(1)) || !bytes.Equal(out[9:9+len1], frame(1)) {
		t.Fatalf("first redundant block: offset %d length %d", off1, len1)
	}
	// A packet whose predecessors are gone carries only itself.
	first, _ := cache.Get(100)
	out = packRED(dst[:], cache, first, first.Payload(), false, 111)
	if len(out) != 1+len(frame(0)) {
		t.Fatalf("no history: %d bytes", len(out))
	}
}
