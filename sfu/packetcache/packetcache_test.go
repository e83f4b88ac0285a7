package packetcache

import (
	"bytes"
	"errors"
	"testing"

	"github.com/pion/rtp"
)

// marshal builds a raw RTP packet and parses its header back as the receiver does.
func marshal(t testing.TB, seq uint16, ts uint32, payload []byte, padding byte) ([]byte, rtp.Header, int) {
	t.Helper()
	p := rtp.Packet{
		Header: rtp.Header{
			Version:        2,
			Marker:         seq%2 == 0,
			PayloadType:    96,
			SequenceNumber: seq,
			Timestamp:      ts,
			SSRC:           0x11223344,
		},
		Payload: payload,
	}
	if padding > 0 {
		p.Header.Padding = true
		p.Header.PaddingSize = padding
	}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var h rtp.Header
	n, err := h.Unmarshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, h, n
}

func TestNewSize(t *testing.T) {
	for _, tt := range []struct{ in, want int }{
		{-1, 16}, {0, 16}, {1, 16}, {16, 16}, {17, 32}, {500, 512}, {512, 512}, {1000, 1024},
		{1 << 15, 1 << 15}, {1<<15 + 1, 1 << 15}, {1 << 20, 1 << 15},
	} {
		if got := New(tt.in).Size(); got != tt.want {
			t.Errorf("New(%d).Size() = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestPutGet(t *testing.T) {
	c := New(64)
	payload := []byte{1, 2, 3, 4, 5}
	raw, h, hl := marshal(t, 1000, 90000, payload, 0)
	p, err := c.Put(raw, &h, hl, 42)
	if err != nil {
		t.Fatal(err)
	}
	// The cache holds a copy: the caller's buffer may be reused.
	for i := range raw {
		raw[i] = 0
	}
	got, ok := c.Get(1000)
	if !ok || got != p {
		t.Fatalf("Get(1000) = %p, %v; want the slot Put returned (%p)", got, ok, p)
	}
	if !bytes.Equal(got.Payload(), payload) {
		t.Errorf("Payload = %x, want %x", got.Payload(), payload)
	}
	if got.Len != uint16(12+len(payload)) || len(got.Raw()) != 12+len(payload) {
		t.Errorf("Len = %d, Raw %d bytes; want %d", got.Len, len(got.Raw()), 12+len(payload))
	}
	if got.SequenceNumber != 1000 || got.Timestamp != 90000 || got.PayloadType != 96 || !got.Marker || got.ArrivalNanos != 42 {
		t.Errorf("header fields: %+v", got)
	}
	if got.IsPadding() {
		t.Error("IsPadding on a packet with payload")
	}
	var reparsed rtp.Packet
	if err := reparsed.Unmarshal(got.Raw()); err != nil || reparsed.SequenceNumber != 1000 {
		t.Errorf("Raw does not parse back: %v", err)
	}

	for _, seq := range []uint16{999, 1001, 1000 + 64, 1000 - 64} {
		if _, ok := c.Get(seq); ok {
			t.Errorf("Get(%d) found a packet never stored", seq)
		}
	}
}

func TestEmptyCacheGet(t *testing.T) {
	c := New(16)
	// A zero slot has sequence number 0: it must not be mistaken for packet 0.
	if _, ok := c.Get(0); ok {
		t.Fatal("Get(0) on an empty cache found a packet")
	}
}

func TestSlotReuseAfterWrap(t *testing.T) {
	c := New(16)
	start := uint16(65530) // across the sequence-number wrap too
	for i := 0; i < 40; i++ {
		seq := start + uint16(i)
		raw, h, hl := marshal(t, seq, uint32(i), []byte{byte(i)}, 0)
		if _, err := c.Put(raw, &h, hl, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 40; i++ {
		seq := start + uint16(i)
		p, ok := c.Get(seq)
		if i < 40-16 {
			if ok {
				t.Errorf("Get(%d): overwritten packet still found (slot holds %d)", seq, p.SequenceNumber)
			}
			continue
		}
		if !ok {
			t.Errorf("Get(%d): recent packet missing", seq)
			continue
		}
		if p.SequenceNumber != seq || !bytes.Equal(p.Payload(), []byte{byte(i)}) {
			t.Errorf("Get(%d) = seq %d payload %x", seq, p.SequenceNumber, p.Payload())
		}
	}
}

func TestSlotReuseResetsCodecFields(t *testing.T) {
	c := New(16)
	raw, h, hl := marshal(t, 5, 1, []byte{1}, 0)
	p, _ := c.Put(raw, &h, hl, 1)
	p.Keyframe, p.TID, p.FrameStart, p.AudioLevelOK, p.AudioLevel = true, 2, true, true, 30
	raw, h, hl = marshal(t, 5+16, 2, []byte{2}, 0)
	p2, _ := c.Put(raw, &h, hl, 2)
	if p2 != p {
		t.Fatal("same slot expected")
	}
	if p2.Keyframe || p2.TID != 0 || p2.FrameStart || p2.AudioLevelOK {
		t.Errorf("codec fields of the previous packet survived: %+v", p2)
	}
}

func TestPadding(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		pad     byte
		// headerPadSize is what the parsed header's PaddingSize says (0: unset, as Header.Unmarshal leaves it).
		headerPadSize bool
		want          []byte
		padOnly       bool
	}{
		{name: "one byte of padding", payload: []byte{1, 2, 3}, pad: 1, want: []byte{1, 2, 3}},
		{name: "four bytes of padding", payload: []byte{1, 2, 3}, pad: 4, want: []byte{1, 2, 3}},
		{name: "255 bytes of padding", payload: []byte{9}, pad: 255, want: []byte{9}},
		{name: "padding only", payload: nil, pad: 200, want: []byte{}, padOnly: true},
		{name: "size from the parsed header", payload: []byte{1, 2}, pad: 7, headerPadSize: true, want: []byte{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(16)
			raw, h, hl := marshal(t, 7, 1, tt.payload, tt.pad)
			if raw[len(raw)-1] != tt.pad || raw[0]&0x20 == 0 {
				t.Fatalf("test packet not padded: %x", raw)
			}
			if tt.headerPadSize {
				h.PaddingSize = tt.pad
			} else {
				h.PaddingSize = 0
			}
			p, err := c.Put(raw, &h, hl, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Payload(), tt.want) {
				t.Errorf("Payload = %x, want %x", p.Payload(), tt.want)
			}
			if p.IsPadding() != tt.padOnly {
				t.Errorf("IsPadding = %v, want %v", p.IsPadding(), tt.padOnly)
			}
			if int(p.Len) != len(raw) {
				t.Errorf("Len = %d, want %d (Raw keeps the padding)", p.Len, len(raw))
			}
		})
	}
}

func TestPutErrors(t *testing.T) {
	c := New(16)

	// Seed slot 3 so we can see that failed Puts leave it alone.
	raw, h, hl := marshal(t, 3, 1, []byte{0xaa}, 0)
	if _, err := c.Put(raw, &h, hl, 0); err != nil {
		t.Fatal(err)
	}

	big, h, hl := marshal(t, 3+16, 1, make([]byte, MaxPacketSize-12+1), 0)
	if _, err := c.Put(big, &h, hl, 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put of %d bytes: err = %v, want ErrTooLarge", len(big), err)
	}
	exact, h, hl := marshal(t, 4, 1, make([]byte, MaxPacketSize-12), 0)
	if p, err := c.Put(exact, &h, hl, 0); err != nil || int(p.Len) != MaxPacketSize {
		t.Errorf("Put of exactly MaxPacketSize: %v", err)
	}

	// The padding length byte claims more than the payload holds.
	raw, h, hl = marshal(t, 3+32, 1, []byte{1, 2, 3}, 4)
	raw[len(raw)-1] = byte(len(raw) - hl + 1)
	if _, err := c.Put(raw, &h, hl, 0); err == nil {
		t.Error("padding longer than the payload accepted")
	} else if errors.Is(err, ErrTooLarge) {
		t.Errorf("padding error is ErrTooLarge: %v", err)
	}
	// Padding reaching into the header.
	raw[len(raw)-1] = byte(len(raw))
	if _, err := c.Put(raw, &h, hl, 0); err == nil {
		t.Error("padding covering the header accepted")
	}
	// The header says so, too.
	raw[len(raw)-1] = 1
	h.PaddingSize = 200
	if _, err := c.Put(raw, &h, hl, 0); err == nil {
		t.Error("header padding size longer than the payload accepted")
	}

	p, ok := c.Get(3)
	if !ok || !bytes.Equal(p.Payload(), []byte{0xaa}) {
		t.Errorf("a failed Put changed slot 3: ok=%v", ok)
	}
}

func FuzzPut(f *testing.F) {
	add := func(seq uint16, payload []byte, pad byte) {
		raw, _, _ := marshal(f, seq, 1, payload, pad)
		f.Add(raw)
	}
	add(1, []byte{1, 2, 3}, 0)
	add(65535, []byte{1, 2, 3}, 4)
	add(2, nil, 255)
	add(3, make([]byte, 1500), 0)
	ext := rtp.Packet{Header: rtp.Header{Version: 2, Extension: true, ExtensionProfile: 0xbede, SequenceNumber: 9, CSRC: []uint32{1, 2}}, Payload: []byte{7}}
	if err := ext.Header.SetExtension(1, []byte{0x30}); err != nil {
		f.Fatal(err)
	}
	if raw, err := ext.Marshal(); err == nil {
		f.Add(raw)
	}
	f.Add([]byte{0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff})
	f.Add([]byte{0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x00})

	c := New(16)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var h rtp.Header
		hl, err := h.Unmarshal(raw)
		if err != nil {
			return
		}
		orig := bytes.Clone(raw)
		p, err := c.Put(raw, &h, hl, 1)
		if !bytes.Equal(raw, orig) {
			t.Fatal("Put modified its input")
		}
		if err != nil {
			if p != nil {
				t.Fatal("slot returned with an error")
			}
			if len(raw) > MaxPacketSize && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("oversized packet: %v", err)
			}
			return
		}
		if len(raw) > MaxPacketSize {
			t.Fatalf("%d-byte packet accepted", len(raw))
		}
		if !(p.PayloadStart <= p.PayloadEnd && p.PayloadEnd <= p.Len) || int(p.Len) != len(raw) || int(p.PayloadStart) != hl {
			t.Fatalf("bounds: start %d end %d len %d raw %d header %d", p.PayloadStart, p.PayloadEnd, p.Len, len(raw), hl)
		}
		if !bytes.Equal(p.Raw(), raw) {
			t.Fatal("Raw differs from the input")
		}
		_ = p.Payload()
		if !h.Padding && int(p.PayloadEnd) != len(raw) {
			t.Fatalf("no padding bit, yet payload ends at %d of %d", p.PayloadEnd, len(raw))
		}
		if h.Padding && raw[len(raw)-1] != 0 && int(p.PayloadEnd) != len(raw)-int(raw[len(raw)-1]) {
			t.Fatalf("padding %d: payload ends at %d of %d", raw[len(raw)-1], p.PayloadEnd, len(raw))
		}
		got, ok := c.Get(h.SequenceNumber)
		if !ok || got != p {
			t.Fatal("Get does not find the packet just stored")
		}
		// Agree with pion's own packet parser where it accepts the packet.
		var pkt rtp.Packet
		if pkt.Unmarshal(raw) == nil && !bytes.Equal(pkt.Payload, p.Payload()) {
			t.Fatalf("payload %x, pion says %x", p.Payload(), pkt.Payload)
		}
	})
}
