package munger

import (
	"bytes"
	"testing"
	"time"

	"github.com/hop-meet/hop/sfu/codecs"
)

const (
	ms        = int64(time.Millisecond)
	videoRate = 90000
)

// pkt is one input packet and what the munger is expected to make of it.
type pkt struct {
	seq     uint16
	ts      uint32
	nanos   int64
	padding bool
	// switchTo makes this packet the first of a new layer (Switch before Munge).
	switchTo bool

	drop bool
	// fill: the packet's number is filled with padding instead (a late skipped packet).
	fill    bool
	hole    uint16 // numbers left open before this one
	outSeq  uint16
	outTS   uint32
	checkTS bool
}

func runPackets(t *testing.T, m *Munger, clock uint32, pkts []pkt) {
	t.Helper()
	for i, p := range pkts {
		if p.switchTo {
			m.Switch(p.seq, p.ts, p.nanos, clock)
		}
		r := m.Munge(p.seq, p.ts, p.nanos, p.padding)
		if r.Drop != p.drop {
			t.Fatalf("packet %d (seq %d): drop = %v, want %v (result %+v)", i, p.seq, r.Drop, p.drop, r)
		}
		if r.Drop {
			continue
		}
		if r.Fill != p.fill {
			t.Fatalf("packet %d (seq %d): fill = %v, want %v (result %+v)", i, p.seq, r.Fill, p.fill, r)
		}
		if r.SeqNo != p.outSeq {
			t.Errorf("packet %d (seq %d): out seq %d, want %d", i, p.seq, r.SeqNo, p.outSeq)
		}
		if r.Hole != p.hole {
			t.Errorf("packet %d (seq %d): hole %d, want %d", i, p.seq, r.Hole, p.hole)
		}
		if p.checkTS && r.Timestamp != p.outTS {
			t.Errorf("packet %d (seq %d): out ts %d, want %d", i, p.seq, r.Timestamp, p.outTS)
		}
	}
}

func TestMungeBeforeSwitchDrops(t *testing.T) {
	var m Munger
	if m.Started() {
		t.Fatal("zero Munger is started")
	}
	if r := m.Munge(1, 1, 0, false); !r.Drop {
		t.Fatalf("Munge before any Switch: %+v, want drop", r)
	}
}

func TestMunge(t *testing.T) {
	tests := []struct {
		name  string
		clock uint32
		pkts  []pkt
	}{
		{
			name:  "first layer passes through unchanged",
			clock: videoRate,
			pkts: []pkt{
				{seq: 1000, ts: 5000, switchTo: true, outSeq: 1000, outTS: 5000, checkTS: true},
				{seq: 1001, ts: 5000, outSeq: 1001, outTS: 5000, checkTS: true},
				{seq: 1002, ts: 8000, nanos: 33 * ms, outSeq: 1002, outTS: 8000, checkTS: true},
			},
		},
		{
			name:  "switch continues sequence numbers and timestamps by wall clock",
			clock: videoRate,
			pkts: []pkt{
				{seq: 100, ts: 3000, nanos: 0, switchTo: true, outSeq: 100, outTS: 3000, checkTS: true},
				{seq: 101, ts: 6000, nanos: 33 * ms, outSeq: 101, outTS: 6000, checkTS: true},
				{seq: 102, ts: 9000, nanos: 66 * ms, outSeq: 102, outTS: 9000, checkTS: true},
				// New layer, unrelated numbering, 100 ms after the last packet sent: +9000 ticks.
				{seq: 50000, ts: 777777, nanos: 166 * ms, switchTo: true, outSeq: 103, outTS: 18000, checkTS: true},
				{seq: 50001, ts: 777777, nanos: 170 * ms, outSeq: 104, outTS: 18000, checkTS: true},
				{seq: 50002, ts: 780777, nanos: 200 * ms, outSeq: 105, outTS: 21000, checkTS: true},
				// Back again, 1 s later: +90000.
				{seq: 110, ts: 123, nanos: 1200 * ms, switchTo: true, outSeq: 106, outTS: 111000, checkTS: true},
				{seq: 111, ts: 3123, nanos: 1233 * ms, outSeq: 107, outTS: 114000, checkTS: true},
			},
		},
		{
			name:  "switch with no elapsed time still advances the timestamp",
			clock: videoRate,
			pkts: []pkt{
				{seq: 1, ts: 100, nanos: 5 * ms, switchTo: true, outSeq: 1, outTS: 100, checkTS: true},
				{seq: 9000, ts: 1, nanos: 5 * ms, switchTo: true, outSeq: 2, outTS: 101, checkTS: true},
			},
		},
		{
			name:  "switch with the clock going backwards still advances the timestamp",
			clock: videoRate,
			pkts: []pkt{
				{seq: 1, ts: 100, nanos: 50 * ms, switchTo: true, outSeq: 1, outTS: 100, checkTS: true},
				{seq: 9000, ts: 1, nanos: 10 * ms, switchTo: true, outSeq: 2, outTS: 101, checkTS: true},
			},
		},
		{
			name:  "audio source replaced: 48 kHz clock",
			clock: 48000,
			pkts: []pkt{
				{seq: 7, ts: 960, nanos: 0, switchTo: true, outSeq: 7, outTS: 960, checkTS: true},
				{seq: 8, ts: 1920, nanos: 20 * ms, outSeq: 8, outTS: 1920, checkTS: true},
				{seq: 40000, ts: 4000000000, nanos: 60 * ms, switchTo: true, outSeq: 9, outTS: 1920 + 1920, checkTS: true},
				{seq: 40001, ts: 4000000960, nanos: 80 * ms, outSeq: 10, outTS: 1920 + 1920 + 960, checkTS: true},
			},
		},
		{
			name:  "timestamp offset wraps",
			clock: videoRate,
			pkts: []pkt{
				{seq: 1, ts: 0xfffff000, nanos: 0, switchTo: true, outSeq: 1, outTS: 0xfffff000, checkTS: true},
				{seq: 2, ts: 0x00000100, nanos: 10 * ms, outSeq: 2, outTS: 0x00000100, checkTS: true},
				{seq: 600, ts: 5, nanos: 20 * ms, switchTo: true, outSeq: 3, outTS: 0x100 + 900, checkTS: true},
			},
		},
		{
			name:  "in-order padding is dropped and the gap closed",
			clock: videoRate,
			pkts: []pkt{
				{seq: 10, ts: 1, switchTo: true, outSeq: 10},
				{seq: 11, ts: 1, outSeq: 11},
				{seq: 12, ts: 1, padding: true, drop: true},
				{seq: 13, ts: 1, padding: true, drop: true},
				{seq: 14, ts: 2, outSeq: 12, outTS: 2, checkTS: true},
				{seq: 15, ts: 2, padding: true, drop: true},
				{seq: 16, ts: 3, outSeq: 13},
				{seq: 17, ts: 4, outSeq: 14},
			},
		},
		{
			name:  "padding as the first packet of a layer",
			clock: videoRate,
			pkts: []pkt{
				{seq: 10, ts: 1, switchTo: true, outSeq: 10},
				{seq: 500, ts: 1, switchTo: true, padding: true, drop: true},
				{seq: 501, ts: 1, outSeq: 11},
			},
		},
		{
			name:  "duplicates are dropped",
			clock: videoRate,
			pkts: []pkt{
				{seq: 10, ts: 1, switchTo: true, outSeq: 10},
				{seq: 10, ts: 1, drop: true},
				{seq: 11, ts: 1, outSeq: 11},
				{seq: 11, ts: 1, drop: true},
				{seq: 12, ts: 1, padding: true, drop: true},
				{seq: 12, ts: 1, padding: true, drop: true},
				{seq: 13, ts: 1, outSeq: 12},
			},
		},
		{
			name:  "late packet gets the offset in force at its sequence number",
			clock: videoRate,
			pkts: []pkt{
				{seq: 10, ts: 1, switchTo: true, outSeq: 10},
				{seq: 12, ts: 1, outSeq: 12, hole: 1},                 // 11 is missing
				{seq: 13, ts: 1, padding: true, drop: true},           // gap closed from 14 on
				{seq: 14, ts: 2, outSeq: 13},                          //
				{seq: 11, ts: 1, outSeq: 11},                          // late: old offset
				{seq: 16, ts: 3, outSeq: 15, hole: 1},                 // 15 is missing
				{seq: 17, ts: 3, padding: true, drop: true},           //
				{seq: 18, ts: 3, padding: true, drop: true},           //
				{seq: 19, ts: 4, outSeq: 16},                          //
				{seq: 15, ts: 2, outSeq: 14, outTS: 2, checkTS: true}, // late: offset 1
				{seq: 15, ts: 2, padding: true, drop: true},           // late padding
			},
		},
		{
			name:  "late padding fills the number the gap left open",
			clock: videoRate,
			pkts: []pkt{
				{seq: 10, ts: 1, switchTo: true, outSeq: 10},
				{seq: 12, ts: 1, outSeq: 12, hole: 1},
				{seq: 11, ts: 1, padding: true, fill: true, outSeq: 11},
				{seq: 11, ts: 1, padding: true, drop: true},
			},
		},
		{
			name:  "skipped packet after a gap is filled with padding",
			clock: videoRate,
			pkts: []pkt{
				{seq: 10, ts: 1, switchTo: true, outSeq: 10},
				{seq: 12, ts: 2, padding: true, fill: true, outSeq: 12, hole: 1}, // 11 is missing
				{seq: 11, ts: 1, outSeq: 11},                                     // late: still numbered
				{seq: 12, ts: 2, padding: true, drop: true},                      // a copy
				{seq: 13, ts: 2, padding: true, drop: true},                      // in order: gap closed
				{seq: 14, ts: 3, outSeq: 13},
			},
		},
		{
			name:  "late packet of the new layer after a switch",
			clock: videoRate,
			pkts: []pkt{
				{seq: 10, ts: 1, switchTo: true, outSeq: 10},
				{seq: 11, ts: 1, outSeq: 11},
				{seq: 3000, ts: 1, nanos: 10 * ms, switchTo: true, outSeq: 12},
				{seq: 3002, ts: 1, outSeq: 14, hole: 1},
				{seq: 3001, ts: 1, outSeq: 13},
			},
		},
		{
			name:  "packets older than the switch point are dropped",
			clock: videoRate,
			pkts: []pkt{
				{seq: 10, ts: 1, switchTo: true, outSeq: 10},
				{seq: 11, ts: 1, outSeq: 11},
				{seq: 3000, ts: 1, switchTo: true, outSeq: 12},
				{seq: 2999, ts: 1, drop: true},
				{seq: 2990, ts: 1, drop: true},
				{seq: 3001, ts: 1, outSeq: 13},
				{seq: 2998, ts: 1, drop: true},
				// Sequence numbers of the previous layer mean nothing now.
				{seq: 12, ts: 1, drop: true},
			},
		},
		{
			name:  "sequence numbers wrap within a layer",
			clock: videoRate,
			pkts: []pkt{
				{seq: 65533, ts: 1, switchTo: true, outSeq: 65533},
				{seq: 65534, ts: 1, outSeq: 65534},
				{seq: 65535, ts: 1, outSeq: 65535},
				{seq: 0, ts: 1, outSeq: 0},
				{seq: 2, ts: 1, outSeq: 2, hole: 1},
				{seq: 1, ts: 1, outSeq: 1},
				{seq: 65532, ts: 1, drop: true}, // before the switch point
			},
		},
		{
			name:  "switch across the wrap, padding across the wrap",
			clock: videoRate,
			pkts: []pkt{
				{seq: 100, ts: 1, switchTo: true, outSeq: 100},
				{seq: 65534, ts: 1, switchTo: true, outSeq: 101},
				{seq: 65535, ts: 1, padding: true, drop: true},
				{seq: 0, ts: 1, padding: true, drop: true},
				{seq: 1, ts: 1, outSeq: 102},
				{seq: 2, ts: 1, outSeq: 103},
			},
		},
		{
			name:  "output sequence numbers wrap across a switch",
			clock: videoRate,
			pkts: []pkt{
				{seq: 65535, ts: 1, switchTo: true, outSeq: 65535},
				{seq: 7, ts: 1, switchTo: true, outSeq: 0},
				{seq: 8, ts: 1, outSeq: 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Munger
			runPackets(t, &m, tt.clock, tt.pkts)
		})
	}
}

func TestLastOut(t *testing.T) {
	var m Munger
	m.Switch(500, 9000, 0, videoRate)
	m.Munge(500, 9000, 0, false)
	m.Munge(501, 12000, 33*ms, false)
	m.Munge(502, 12000, 34*ms, true) // padding: dropped, LastOut unchanged
	if s, ts := m.LastOut(); s != 501 || ts != 12000 {
		t.Fatalf("LastOut = %d, %d; want 501, 12000", s, ts)
	}
	m.Munge(499, 6000, 40*ms, false) // older than the switch
	if s, ts := m.LastOut(); s != 501 || ts != 12000 {
		t.Fatalf("LastOut after a dropped packet = %d, %d; want 501, 12000", s, ts)
	}
}

// TestMungeLongRunOnOneLayer forwards more than half the sequence-number space on one layer without a
// switch: an audio track does this after 11 minutes at 50 packets a second.
func TestMungeLongRunOnOneLayer(t *testing.T) {
	var m Munger
	start := uint16(1000)
	m.Switch(start, 0, 0, 48000)
	var dropped []int
	for i := 0; i < 70000; i++ {
		seq := start + uint16(i)
		r := m.Munge(seq, uint32(i*960), int64(i)*20*ms, false)
		if r.Drop {
			dropped = append(dropped, i)
			continue
		}
		if r.SeqNo != seq {
			t.Fatalf("packet %d: out seq %d, want %d", i, r.SeqNo, seq)
		}
	}
	if len(dropped) > 0 {
		t.Fatalf("%d in-order packets dropped on one layer, starting %d packets after the switch point",
			len(dropped), dropped[0])
	}
}

// TestMungeLatePacketsAfterManyPaddings checks that more offset changes than the munger remembers
// never make a late packet reuse an output sequence number.
func TestMungeLatePacketsAfterManyPaddings(t *testing.T) {
	var m Munger
	m.Switch(0, 0, 0, videoRate)
	used := map[uint16]uint16{}
	emit := func(seq uint16, padding bool) bool {
		r := m.Munge(seq, 0, 0, padding)
		if r.Drop {
			return false
		}
		if prev, ok := used[r.SeqNo]; ok && prev != seq {
			t.Fatalf("seq %d mapped to %d, already used by seq %d", seq, r.SeqNo, prev)
		}
		used[r.SeqNo] = seq
		return true
	}
	// 40 rounds of: a packet, a hole, a packet, a padding packet.
	var late []uint16
	seq := uint16(0)
	for i := 0; i < 40; i++ {
		emit(seq, false)
		late = append(late, seq+1)
		emit(seq+2, false)
		emit(seq+3, true)
		seq += 4
	}
	for i, s := range late {
		// The holes of the last rounds, within the remembered changes, must still be filled.
		if !emit(s, false) && i >= len(late)-10 {
			t.Errorf("late packet %d (hole %d of %d) was dropped", s, i, len(late))
		}
	}
}

// vp8Payload builds a VP8 payload with a picture ID (7- or 15-bit) and TL0PICIDX, start of a frame.
func vp8Payload(pid uint16, long bool, tl0 uint8) []byte {
	if long {
		return []byte{0x90, 0xc0, 0x80 | byte(pid>>8), byte(pid), tl0, 0x00, 0xde, 0xad}
	}
	return []byte{0x90, 0xc0, byte(pid) & 0x7f, tl0, 0x00, 0xde, 0xad}
}

type vp8Out struct {
	pid uint16
	tl0 uint8
}

// mungeVP8 runs one packet through Switch (if sw), Munge and MungeVP8, checks the input is untouched,
// and returns the picture ID and TL0PICIDX sent.
func mungeVP8(t *testing.T, m *Munger, seq uint16, sw bool, payload []byte) vp8Out {
	t.Helper()
	if sw {
		m.Switch(seq, 0, 0, videoRate)
	}
	if r := m.Munge(seq, 0, 0, false); r.Drop {
		t.Fatalf("seq %d dropped", seq)
	}
	orig := bytes.Clone(payload)
	dst := make([]byte, 1500)
	for i := range dst {
		dst[i] = 0xee
	}
	out := m.MungeVP8(payload, dst)
	if !bytes.Equal(payload, orig) {
		t.Fatalf("MungeVP8 modified its input payload: %x -> %x", orig, payload)
	}
	if len(out) != len(payload) {
		t.Fatalf("output length %d, want %d", len(out), len(payload))
	}
	if &out[0] != &payload[0] && &out[0] != &dst[0] {
		t.Fatalf("output is neither the payload nor dst")
	}
	d, ok := codecs.ParseVP8(out)
	if !ok {
		t.Fatalf("output %x does not parse", out)
	}
	in, _ := codecs.ParseVP8(payload)
	if d.PictureIDLen != in.PictureIDLen || d.HeaderSize != in.HeaderSize {
		t.Fatalf("descriptor layout changed: %+v -> %+v", in, d)
	}
	if !bytes.Equal(out[d.HeaderSize:], payload[in.HeaderSize:]) || out[0] != payload[0] || out[1] != payload[1] {
		t.Fatalf("bytes other than picture ID / TL0PICIDX changed: %x -> %x", payload, out)
	}
	return vp8Out{d.PictureID, d.TL0PicIdx}
}

func TestMungeVP8Continuity(t *testing.T) {
	type step struct {
		seq  uint16
		sw   bool
		pid  uint16
		tl0  uint8
		want vp8Out
	}
	tests := []struct {
		name  string
		long  bool
		steps []step
	}{
		{
			name: "15-bit",
			long: true,
			steps: []step{
				{seq: 1, sw: true, pid: 1000, tl0: 50, want: vp8Out{1000, 50}},
				{seq: 2, pid: 1001, tl0: 51, want: vp8Out{1001, 51}},
				{seq: 3, pid: 1002, tl0: 51, want: vp8Out{1002, 51}},
				{seq: 900, sw: true, pid: 20000, tl0: 200, want: vp8Out{1003, 52}},
				{seq: 901, pid: 20001, tl0: 201, want: vp8Out{1004, 53}},
				{seq: 902, pid: 20002, tl0: 201, want: vp8Out{1005, 53}},
				{seq: 5, sw: true, pid: 1010, tl0: 55, want: vp8Out{1006, 54}},
				{seq: 6, pid: 1011, tl0: 56, want: vp8Out{1007, 55}},
			},
		},
		{
			name: "15-bit wrap",
			long: true,
			steps: []step{
				{seq: 1, sw: true, pid: 32766, tl0: 255, want: vp8Out{32766, 255}},
				{seq: 2, pid: 32767, tl0: 255, want: vp8Out{32767, 255}},
				{seq: 900, sw: true, pid: 10, tl0: 3, want: vp8Out{0, 0}},
				{seq: 901, pid: 11, tl0: 4, want: vp8Out{1, 1}},
				{seq: 2000, sw: true, pid: 32000, tl0: 100, want: vp8Out{2, 2}},
				{seq: 2001, pid: 32767, tl0: 100, want: vp8Out{769, 2}},
				{seq: 2002, pid: 0, tl0: 101, want: vp8Out{770, 3}},
			},
		},
		{
			name: "7-bit",
			long: false,
			steps: []step{
				{seq: 1, sw: true, pid: 120, tl0: 9, want: vp8Out{120, 9}},
				{seq: 2, pid: 121, tl0: 9, want: vp8Out{121, 9}},
				{seq: 900, sw: true, pid: 40, tl0: 77, want: vp8Out{122, 10}},
				{seq: 901, pid: 41, tl0: 77, want: vp8Out{123, 10}},
				{seq: 902, pid: 46, tl0: 78, want: vp8Out{0, 11}},
				{seq: 903, pid: 47, tl0: 78, want: vp8Out{1, 11}},
				{seq: 5, sw: true, pid: 127, tl0: 0, want: vp8Out{2, 12}},
				{seq: 6, pid: 0, tl0: 1, want: vp8Out{3, 13}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Munger
			m.SetVP8(true)
			for i, s := range tt.steps {
				got := mungeVP8(t, &m, s.seq, s.sw, vp8Payload(s.pid, tt.long, s.tl0))
				if got != s.want {
					t.Errorf("step %d: sent pid %d tl0 %d, want pid %d tl0 %d", i, got.pid, got.tl0, s.want.pid, s.want.tl0)
				}
			}
		})
	}
}

func TestMungeVP8FirstLayerIsNotCopied(t *testing.T) {
	var m Munger
	m.SetVP8(true)
	m.Switch(1, 0, 0, videoRate)
	m.Munge(1, 0, 0, false)
	p := vp8Payload(300, true, 4)
	out := m.MungeVP8(p, make([]byte, 1500))
	if &out[0] != &p[0] {
		t.Fatal("first layer's payload was copied although nothing changes")
	}
}

func TestMungeVP8Disabled(t *testing.T) {
	var m Munger
	m.Switch(1, 0, 0, videoRate)
	m.Munge(1, 0, 0, false)
	m.MungeVP8(vp8Payload(100, true, 1), make([]byte, 1500))
	m.Switch(50, 0, 0, videoRate)
	m.Munge(50, 0, 0, false)
	p := vp8Payload(9000, true, 80)
	out := m.MungeVP8(p, make([]byte, 1500))
	if &out[0] != &p[0] {
		t.Fatal("VP8 munging is off, but the payload was rewritten")
	}
}

func TestMungeVP8WithoutPictureID(t *testing.T) {
	var m Munger
	m.SetVP8(true)
	m.Switch(1, 0, 0, videoRate)
	m.Munge(1, 0, 0, false)
	m.MungeVP8(vp8Payload(100, true, 1), make([]byte, 1500))
	m.Switch(50, 0, 0, videoRate)
	m.Munge(50, 0, 0, false)
	for _, p := range [][]byte{{0x10, 0x00, 0x01}, {0x90, 0x80}, {}} {
		out := m.MungeVP8(p, make([]byte, 1500))
		if !bytes.Equal(out, p) {
			t.Fatalf("payload without picture ID changed: %x -> %x", p, out)
		}
	}
	// The rebase waits for the first packet that carries a picture ID.
	got := mungeVP8(t, &m, 51, false, vp8Payload(7000, true, 9))
	if got.pid != 101 || got.tl0 != 2 {
		t.Fatalf("sent pid %d tl0 %d, want 101 2", got.pid, got.tl0)
	}
}

// TestApplyVP8MatchesMungeVP8 checks that a retransmission rewritten with VP8Offsets is what was sent.
func TestApplyVP8MatchesMungeVP8(t *testing.T) {
	for _, long := range []bool{true, false} {
		var m Munger
		m.SetVP8(true)
		m.Switch(1, 0, 0, videoRate)
		m.Munge(1, 0, 0, false)
		m.MungeVP8(vp8Payload(77, long, 12), make([]byte, 1500))
		m.Switch(400, 0, 0, videoRate)
		for i, pid := range []uint16{5, 6, 7, 126, 127, 0} {
			seq := uint16(400 + i)
			m.Munge(seq, 0, 0, false)
			p := vp8Payload(pid, long, uint8(pid))
			sent := bytes.Clone(m.MungeVP8(p, make([]byte, 1500)))
			po, to := m.VP8Offsets()
			rtx := bytes.Clone(p)
			ApplyVP8(rtx, po, to)
			if !bytes.Equal(rtx, sent) {
				t.Errorf("long=%v pid %d: ApplyVP8 gives %x, MungeVP8 sent %x", long, pid, rtx, sent)
			}
		}
	}
}

func TestApplyVP8(t *testing.T) {
	tests := []struct {
		name      string
		in        []byte
		picOffset uint16
		tl0Offset uint8
		want      []byte
	}{
		{"15-bit", []byte{0x90, 0xc0, 0x81, 0x00, 0x10, 0xaa}, 0x0050, 0x05, []byte{0x90, 0xc0, 0x80, 0xb0, 0x0b, 0xaa}},
		{"15-bit wraps", []byte{0x90, 0xc0, 0x80, 0x01, 0x00, 0xaa}, 2, 1, []byte{0x90, 0xc0, 0xff, 0xff, 0xff, 0xaa}},
		{"7-bit wraps", []byte{0x90, 0x80, 0x01, 0xaa}, 3, 9, []byte{0x90, 0x80, 0x7e, 0xaa}},
		{"no picture ID", []byte{0x90, 0x40, 0x10, 0xaa}, 3, 9, []byte{0x90, 0x40, 0x10, 0xaa}},
		{"truncated", []byte{0x90, 0x80}, 3, 9, []byte{0x90, 0x80}},
		{"empty", []byte{}, 3, 9, []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bytes.Clone(tt.in)
			ApplyVP8(b, tt.picOffset, tt.tl0Offset)
			if !bytes.Equal(b, tt.want) {
				t.Errorf("got %x, want %x", b, tt.want)
			}
		})
	}
}

// FuzzMunge drives a Munger with random events. Each event is 4 bytes:
//
//	flags (bit 0: padding, bit 1: switch layer, bit 2: VP8 payload), seq delta (int8),
//	timestamp delta, time delta in ms.
//
// Within a layer, two distinct input packets must never get the same output sequence number, an
// in-order packet must come out after everything before it, and nothing older than the switch point
// may be forwarded.
func FuzzMunge(f *testing.F) {
	f.Add([]byte{2, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0xfe, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 2, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0xfe, 0, 0, 0, 0xff, 0, 0, 2, 50, 10, 10, 0, 0xf0, 0, 0})
	f.Add([]byte{6, 0, 0, 0, 4, 1, 3, 3, 4, 1, 3, 3, 6, 100, 3, 3, 4, 0xff, 3, 3, 4, 3, 3, 3})
	f.Add([]byte{0, 1, 1, 1})
	f.Fuzz(func(t *testing.T, ev []byte) {
		var m Munger
		m.SetVP8(true)
		seq := uint16(0xfff0) // close to the wrap
		ts := uint32(0xffff0000)
		nanos := int64(0)
		pid := uint16(0x7ff0)

		layerStart := uint16(0)
		var byOut map[uint16]uint16   // output seq -> input seq, this layer
		var isPadding map[uint16]bool // a sequence number is padding or not, whenever it is seen again
		var highestIn uint16
		var lastInOrderOut uint16
		haveOut := false
		started := false
		dst := make([]byte, 64)

		for i := 0; i+4 <= len(ev); i += 4 {
			flags, dseq, dts, dms := ev[i], int8(ev[i+1]), ev[i+2], ev[i+3]
			padding := flags&1 != 0
			if flags&2 != 0 {
				// A new layer with unrelated numbering.
				seq += 0x1234 + uint16(dseq)
				ts += 0x55555555
				pid += 0x2345
			} else {
				seq += uint16(int16(dseq))
				ts += uint32(dts) * 100
			}
			nanos += int64(dms) * ms
			pid++

			// Stay clear of half the sequence-number space from the switch point, where "older" and
			// "newer" become ambiguous (TestMungeLongRunOnOneLayer covers the long run).
			if d := seq - layerStart; started && d >= 0x6000 && d < 0xa000 {
				flags |= 2
			}
			if flags&2 != 0 || !started {
				m.Switch(seq, ts, nanos, videoRate)
				started = true
				layerStart = seq
				highestIn = seq - 1
				byOut = map[uint16]uint16{}
				isPadding = map[uint16]bool{}
			}
			if p, ok := isPadding[seq]; ok {
				padding = p
			}
			isPadding[seq] = padding
			inOrder := seqLess(highestIn, seq)
			r := m.Munge(seq, ts, nanos, padding)
			if inOrder && !seqLess(seq, layerStart) {
				highestIn = seq
			}
			if r.Drop {
				continue
			}
			if seqLess(seq, layerStart) {
				t.Fatalf("event %d: seq %d older than the switch point %d forwarded", i/4, seq, layerStart)
			}
			prev, seen := byOut[r.SeqNo]
			if seen && prev != seq {
				t.Fatalf("event %d: seq %d and seq %d both sent as %d", i/4, prev, seq, r.SeqNo)
			}
			byOut[r.SeqNo] = seq
			if seen {
				// A late duplicate of a packet already sent goes out again under the same number.
			} else if inOrder {
				if haveOut && !seqLess(lastInOrderOut, r.SeqNo) {
					t.Fatalf("event %d: in-order seq %d sent as %d, not after %d", i/4, seq, r.SeqNo, lastInOrderOut)
				}
				lastInOrderOut, haveOut = r.SeqNo, true
			} else if haveOut && !seqLess(r.SeqNo, lastInOrderOut) {
				t.Fatalf("event %d: late seq %d sent as %d, not before %d", i/4, seq, r.SeqNo, lastInOrderOut)
			}

			if flags&4 != 0 {
				p := vp8Payload(pid&0x7fff, flags&8 == 0, uint8(pid))
				orig := bytes.Clone(p)
				out := m.MungeVP8(p, dst)
				if !bytes.Equal(p, orig) {
					t.Fatalf("MungeVP8 modified its input")
				}
				if len(out) != len(p) {
					t.Fatalf("MungeVP8 output length %d, want %d", len(out), len(p))
				}
			}
		}
	})
}

// TestMungeLateWindowReusesSlots checks the late-duplicate bookkeeping once sequence numbers have
// gone round the window several times: a packet sent before is dropped when it comes again, and a
// packet that never came (its slot last used lateWindow numbers earlier) is forwarded when it
// finally arrives.
func TestMungeLateWindowReusesSlots(t *testing.T) {
	var m Munger
	m.Switch(0, 0, 0, videoRate)
	const missing = 3*lateWindow + 10
	last := uint16(3*lateWindow + 500)
	for s := uint16(0); s <= last; s++ {
		if s == missing {
			continue
		}
		if r := m.Munge(s, uint32(s)*3000, int64(s)*ms, false); r.Drop {
			t.Fatalf("in-order packet %d dropped", s)
		}
	}
	if r := m.Munge(missing+1, 0, 0, false); !r.Drop {
		t.Fatalf("duplicate of %d forwarded again", missing+1)
	}
	r := m.Munge(missing, uint32(missing)*3000, 0, false)
	if r.Drop || r.SeqNo != missing {
		t.Fatalf("late packet %d: %+v, want it forwarded as %d", missing, r, missing)
	}
	if r := m.Munge(missing, 0, 0, false); !r.Drop {
		t.Fatalf("second copy of late packet %d forwarded", missing)
	}
	// A jump of more than the window forgets everything older.
	far := last + 3*lateWindow
	if r := m.Munge(far, 0, 0, false); r.Drop {
		t.Fatalf("packet after a jump dropped")
	}
	if r := m.Munge(far-5, 0, 0, false); r.Drop {
		t.Fatalf("late packet %d within the window after a jump dropped", far-5)
	}
	if r := m.Munge(far-lateWindow, 0, 0, false); !r.Drop {
		t.Fatalf("packet older than the window forwarded")
	}
}
