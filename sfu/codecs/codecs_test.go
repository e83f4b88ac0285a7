package codecs

import (
	"bytes"
	"testing"
)

func TestFromMime(t *testing.T) {
	tests := []struct {
		mime string
		want Kind
	}{
		{"audio/opus", Opus},
		{"AUDIO/OPUS", Opus},
		{"audio/red", RED},
		{"audio/RED", RED},
		{"video/VP8", VP8},
		{"video/vp8", VP8},
		{"Video/Vp9", VP9},
		{"video/H264", H264},
		{"video/h264", H264},
		{"video/AV1", AV1},
		{"audio/G722", G722},
		{"audio/PCMU", PCMU},
		{"audio/PCMA", PCMA},
		{"", Unknown},
		{"video/h265", Unknown},
		{"vp8", Unknown},
		{"video/vp8 ", Unknown},
		{"audio/opus;rate=48000", Unknown},
		{"video/rtx", Unknown},
	}
	for _, tt := range tests {
		if got := FromMime(tt.mime); got != tt.want {
			t.Errorf("FromMime(%q) = %d, want %d", tt.mime, got, tt.want)
		}
	}
}

func TestParseVP8(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
		want VP8Descriptor
	}{
		{
			name: "minimal start of interframe",
			in:   []byte{0x10, 0x01},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 1, Start: true},
		},
		{
			name: "minimal start of keyframe",
			in:   []byte{0x10, 0x00, 0x9d, 0x01, 0x2a},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 1, Start: true, IsKeyframe: true},
		},
		{
			name: "start bit but no payload byte: not a keyframe",
			in:   []byte{0x10},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 1, Start: true},
		},
		{
			name: "continuation packet with keyframe-looking byte",
			in:   []byte{0x00, 0x00},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 1},
		},
		{
			name: "S=1 on partition 1 is not a frame start",
			in:   []byte{0x11, 0x00},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 1},
		},
		{
			name: "S=1 on partition 7 is not a frame start",
			in:   []byte{0x17, 0x00},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 1},
		},
		{
			name: "N bit and R bit do not matter",
			in:   []byte{0x30 | 0x40, 0x00},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 1, Start: true, IsKeyframe: true},
		},
		{
			name: "X with no extension fields",
			in:   []byte{0x90, 0x00, 0x00},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 2, Start: true, IsKeyframe: true},
		},
		{
			name: "7-bit picture ID",
			in:   []byte{0x90, 0x80, 0x55, 0x01},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 3, Start: true, PictureID: 0x55, PictureIDPos: 2, PictureIDLen: 1},
		},
		{
			name: "7-bit picture ID 127",
			in:   []byte{0x80, 0x80, 0x7f},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 3, PictureID: 127, PictureIDPos: 2, PictureIDLen: 1},
		},
		{
			name: "15-bit picture ID",
			in:   []byte{0x90, 0x80, 0x92, 0x34, 0x00},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 4, Start: true, IsKeyframe: true, PictureID: 0x1234, PictureIDPos: 2, PictureIDLen: 2},
		},
		{
			name: "15-bit picture ID max",
			in:   []byte{0x90, 0x80, 0xff, 0xff, 0x01},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 4, Start: true, PictureID: 0x7fff, PictureIDPos: 2, PictureIDLen: 2},
		},
		{
			name: "all fields, 15-bit",
			// I L T K; pid 0x0102; tl0 0x33; TID=2 Y=1 KEYIDX=0x1b
			in: []byte{0x90, 0xf0, 0x81, 0x02, 0x33, 0x80 | 0x20 | 0x1b, 0x00},
			ok: true,
			want: VP8Descriptor{
				HeaderSize: 6, Start: true, IsKeyframe: true,
				PictureID: 0x0102, PictureIDPos: 2, PictureIDLen: 2,
				TL0PicIdx: 0x33, TL0PicIdxPos: 4,
				TID: 2, TIDPresent: true, LayerSync: true,
				KeyIdx: 0x1b, KeyIdxPos: 5,
			},
		},
		{
			name: "all fields, 7-bit",
			in:   []byte{0x90, 0xf0, 0x05, 0x07, 0x40 | 0x03, 0x01},
			ok:   true,
			want: VP8Descriptor{
				HeaderSize: 5, Start: true,
				PictureID: 5, PictureIDPos: 2, PictureIDLen: 1,
				TL0PicIdx: 7, TL0PicIdxPos: 3,
				TID: 1, TIDPresent: true,
				KeyIdx: 3, KeyIdxPos: 4,
			},
		},
		{
			name: "TL0PICIDX without picture ID",
			in:   []byte{0x80, 0x40, 0xaa, 0x00},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 3, TL0PicIdx: 0xaa, TL0PicIdxPos: 2},
		},
		{
			name: "T only: TID 3 without Y, KEYIDX not signalled",
			in:   []byte{0x80, 0x20, 0xc0 | 0x1f},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 3, TID: 3, TIDPresent: true},
		},
		{
			name: "T with TID 0 is present",
			in:   []byte{0x80, 0x20, 0x00},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 3, TID: 0, TIDPresent: true},
		},
		{
			name: "K only: TID not signalled",
			in:   []byte{0x80, 0x10, 0xe0 | 0x09},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 3, KeyIdx: 9, KeyIdxPos: 2},
		},
		{
			name: "picture ID and TID, no TL0PICIDX",
			in:   []byte{0x90, 0xa0, 0x80, 0x01, 0x40, 0x00},
			ok:   true,
			want: VP8Descriptor{HeaderSize: 5, Start: true, IsKeyframe: true, PictureID: 1, PictureIDPos: 2, PictureIDLen: 2, TID: 1, TIDPresent: true},
		},

		// Truncated inputs.
		{name: "empty", in: nil},
		{name: "empty slice", in: []byte{}},
		{name: "X but no extension byte", in: []byte{0x90}},
		{name: "I but no picture ID", in: []byte{0x90, 0x80}},
		{name: "15-bit picture ID cut", in: []byte{0x90, 0x80, 0x81}},
		{name: "L but no TL0PICIDX", in: []byte{0x90, 0x40}},
		{name: "I L, TL0PICIDX missing", in: []byte{0x90, 0xc0, 0x01}},
		{name: "T but no TID byte", in: []byte{0x90, 0x20}},
		{name: "K but no KEYIDX byte", in: []byte{0x90, 0x10}},
		{name: "all fields, TID byte missing", in: []byte{0x90, 0xf0, 0x81, 0x02, 0x33}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			d, ok := ParseVP8(in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (d=%+v)", ok, tt.ok, d)
			}
			if !bytes.Equal(in, tt.in) {
				t.Fatalf("ParseVP8 modified its input")
			}
			if !ok {
				return
			}
			if d != tt.want {
				t.Errorf("got  %+v\nwant %+v", d, tt.want)
			}
			if got := IsKeyframeStart(VP8, in); got != tt.want.IsKeyframe {
				t.Errorf("IsKeyframeStart(VP8) = %v, want %v", got, tt.want.IsKeyframe)
			}
		})
	}
}

func TestIsKeyframeStart(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		in   []byte
		want bool
	}{
		// VP8
		{"vp8 keyframe start", VP8, []byte{0x10, 0x00}, true},
		{"vp8 keyframe start with picture ID", VP8, []byte{0x90, 0x80, 0x81, 0x00, 0x10}, true},
		{"vp8 interframe start", VP8, []byte{0x10, 0x01}, false},
		{"vp8 keyframe continuation", VP8, []byte{0x00, 0x00}, false},
		{"vp8 partition 1", VP8, []byte{0x11, 0x00}, false},
		{"vp8 truncated", VP8, []byte{0x90, 0x80}, false},
		{"vp8 empty", VP8, nil, false},

		// VP9: I P L F B E V Z
		{"vp9 B, P=0, no layers", VP9, []byte{0x08}, true},
		{"vp9 B with picture id, P=0", VP9, []byte{0x88, 0x81, 0x02}, true},
		{"vp9 inter picture", VP9, []byte{0x48}, false},
		{"vp9 not beginning of frame", VP9, []byte{0x04}, false},
		{"vp9 layers, SID 0, 7-bit pid", VP9, []byte{0xa8, 0x05, 0x00}, true},
		{"vp9 layers, SID 0, 15-bit pid", VP9, []byte{0xa8, 0x80, 0x05, 0x20 /* TID 1 */}, true},
		{"vp9 layers, SID 1, 15-bit pid", VP9, []byte{0xa8, 0x80, 0x05, 0x02}, false},
		{"vp9 layers, SID 2, no pid", VP9, []byte{0x28, 0x04}, false},
		{"vp9 layers, SID 0, no pid", VP9, []byte{0x28, 0xe1}, true},
		{"vp9 flexible, layers, SID 0", VP9, []byte{0xb8, 0x01, 0x00}, true},
		{"vp9 layers, layer byte missing", VP9, []byte{0x28}, false},
		{"vp9 layers, 15-bit pid cut", VP9, []byte{0xa8, 0x80, 0x05}, false},
		{"vp9 layers, pid missing", VP9, []byte{0xa8}, false},
		{"vp9 empty", VP9, nil, false},

		// H.264: NAL header F|NRI|type.
		{"h264 IDR single NAL", H264, []byte{0x65, 0x88, 0x84}, true},
		{"h264 SPS single NAL", H264, []byte{0x67, 0x42, 0xc0, 0x1f}, true},
		{"h264 PPS single NAL", H264, []byte{0x68, 0xce}, false},
		{"h264 non-IDR slice", H264, []byte{0x41, 0x9a}, false},
		{"h264 SEI", H264, []byte{0x06, 0x05}, false},
		{"h264 STAP-A with SPS PPS IDR", H264, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68, 0x00, 0x02, 0x65, 0x88}, true},
		{"h264 STAP-A, SPS second", H264, []byte{0x78, 0x00, 0x01, 0x06, 0x00, 0x02, 0x67, 0x42}, true},
		{"h264 STAP-A, single one-byte SPS", H264, []byte{0x78, 0x00, 0x01, 0x67}, true},
		{"h264 STAP-A of non-IDR", H264, []byte{0x78, 0x00, 0x02, 0x41, 0x9a, 0x00, 0x02, 0x41, 0x9b}, false},
		{"h264 STAP-A size overruns", H264, []byte{0x78, 0x00, 0x09, 0x67, 0x42}, false},
		{"h264 STAP-A zero size", H264, []byte{0x78, 0x00, 0x00, 0x67, 0x42}, false},
		{"h264 STAP-A header only", H264, []byte{0x78}, false},
		{"h264 STAP-A size cut", H264, []byte{0x78, 0x00}, false},
		{"h264 FU-A start of IDR", H264, []byte{0x7c, 0x85, 0x88}, true},
		{"h264 FU-A middle of IDR", H264, []byte{0x7c, 0x05, 0x88}, false},
		{"h264 FU-A end of IDR", H264, []byte{0x7c, 0x45, 0x88}, false},
		{"h264 FU-A start of non-IDR", H264, []byte{0x7c, 0x81, 0x9a}, false},
		{"h264 FU-A header only", H264, []byte{0x7c}, false},
		{"h264 empty", H264, nil, false},

		// AV1 aggregation header Z Y W W N - - -
		{"av1 N bit", AV1, []byte{0x18}, true},
		{"av1 no N bit", AV1, []byte{0x10}, false},
		{"av1 empty", AV1, nil, false},

		// Codecs without keyframes.
		{"opus", Opus, []byte{0x10, 0x00}, false},
		{"unknown", Unknown, []byte{0x65}, false},
		{"red", RED, []byte{0x65}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			if got := IsKeyframeStart(tt.kind, in); got != tt.want {
				t.Errorf("IsKeyframeStart = %v, want %v", got, tt.want)
			}
			if !bytes.Equal(in, tt.in) {
				t.Errorf("IsKeyframeStart modified its input")
			}
		})
	}
}

// redHeader builds a 4-byte RFC 2198 block header.
func redHeader(pt byte, tsOffset uint16, length int) []byte {
	return []byte{
		0x80 | pt&0x7f,
		byte(tsOffset >> 6),
		byte(tsOffset<<2) | byte(length>>8)&0x03,
		byte(length),
	}
}

func TestREDPrimary(t *testing.T) {
	primary := []byte{0xf8, 0xff, 0xfe, 0x01}
	red1 := []byte{0xaa, 0xbb, 0xcc}
	red2 := []byte{0x11, 0x22}
	big := bytes.Repeat([]byte{0x5a}, 300) // length needs the two high bits

	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}

	tests := []struct {
		name string
		in   []byte
		ok   bool
		want []byte
	}{
		{"no redundancy", cat([]byte{111}, primary), true, primary},
		{"no redundancy, empty primary", []byte{111}, true, []byte{}},
		{"one redundant block", cat(redHeader(111, 960, len(red1)), []byte{111}, red1, primary), true, primary},
		{"two redundant blocks", cat(redHeader(111, 1920, len(red2)), redHeader(111, 960, len(red1)), []byte{111}, red2, red1, primary), true, primary},
		{"redundant block longer than 255", cat(redHeader(111, 960, len(big)), []byte{111}, big, primary), true, primary},
		{"zero-length redundant block", cat(redHeader(111, 960, 0), []byte{111}, primary), true, primary},
		{"redundant block exactly fills payload", cat(redHeader(111, 960, len(red1)), []byte{111}, red1), true, []byte{}},

		{"empty", nil, false, nil},
		{"only a redundant header", redHeader(111, 960, 3), false, nil},
		{"redundant header cut", redHeader(111, 960, 3)[:3], false, nil},
		{"redundant length past the end", cat(redHeader(111, 960, 10), []byte{111}, red1), false, nil},
		{"two blocks, lengths past the end", cat(redHeader(111, 1920, 2), redHeader(111, 960, 3), []byte{111}, red2, red1[:2]), false, nil},
		{"length 1023 past the end", cat(redHeader(111, 960, 1023), []byte{111}, big), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			got, ok := REDPrimary(in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !bytes.Equal(in, tt.in) {
				t.Fatalf("REDPrimary modified its input")
			}
			if !ok {
				if got != nil {
					t.Errorf("block = %x on failure, want nil", got)
				}
				return
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("block = %x, want %x", got, tt.want)
			}
			// The primary block is the tail of the payload, not a copy.
			if len(got) > 0 && &got[len(got)-1] != &in[len(in)-1] {
				t.Errorf("block is not the tail of the input")
			}
		})
	}
}

func FuzzParseVP8(f *testing.F) {
	for _, s := range [][]byte{
		{}, {0x10}, {0x10, 0x00}, {0x90, 0x80, 0x55, 0x01}, {0x90, 0x80, 0x92, 0x34, 0x00},
		{0x90, 0xf0, 0x81, 0x02, 0x33, 0xbb, 0x00}, {0x90, 0xf0, 0x81, 0x02, 0x33},
		{0x80, 0x40, 0xaa}, {0x80, 0x10}, {0x80, 0x20, 0xff},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		orig := bytes.Clone(p)
		d, ok := ParseVP8(p)
		if !bytes.Equal(p, orig) {
			t.Fatal("ParseVP8 modified its input")
		}
		if IsKeyframeStart(VP8, p) != (ok && d.IsKeyframe) {
			t.Fatal("IsKeyframeStart disagrees with ParseVP8")
		}
		if !ok {
			if len(p) > 0 && p[0]&0x80 == 0 {
				t.Fatalf("no extension: parse of %x must succeed", p)
			}
			return
		}
		if d.HeaderSize < 1 || d.HeaderSize > len(p) || d.HeaderSize > 6 {
			t.Fatalf("HeaderSize %d out of range for %d bytes", d.HeaderSize, len(p))
		}
		switch d.PictureIDLen {
		case 0:
			if d.PictureIDPos != 0 || d.PictureID != 0 {
				t.Fatalf("absent picture ID has pos %d value %d", d.PictureIDPos, d.PictureID)
			}
		case 1:
			if d.PictureIDPos != 2 || d.PictureID > 0x7f || p[2] != byte(d.PictureID) {
				t.Fatalf("7-bit picture ID: %+v", d)
			}
		case 2:
			if d.PictureIDPos != 2 || d.PictureIDPos+2 > d.HeaderSize || d.PictureID > 0x7fff ||
				p[2] != 0x80|byte(d.PictureID>>8) || p[3] != byte(d.PictureID) {
				t.Fatalf("15-bit picture ID: %+v", d)
			}
		default:
			t.Fatalf("PictureIDLen %d", d.PictureIDLen)
		}
		if d.PictureIDLen > 0 && d.PictureIDPos+d.PictureIDLen > d.HeaderSize {
			t.Fatalf("picture ID outside header: %+v", d)
		}
		if d.TL0PicIdxPos != 0 && (d.TL0PicIdxPos >= d.HeaderSize || p[d.TL0PicIdxPos] != d.TL0PicIdx) {
			t.Fatalf("TL0PICIDX: %+v", d)
		}
		if d.KeyIdxPos != 0 && (d.KeyIdxPos >= d.HeaderSize || p[d.KeyIdxPos]&0x1f != d.KeyIdx) {
			t.Fatalf("KEYIDX: %+v", d)
		}
		if d.TID > 3 {
			t.Fatalf("TID %d", d.TID)
		}
		if d.IsKeyframe && !d.Start {
			t.Fatalf("keyframe on a non-start packet: %+v", d)
		}
		if d.Start != (p[0]&0x17 == 0x10) {
			t.Fatalf("Start = %v for first byte %#x", d.Start, p[0])
		}
	})
}

func FuzzIsKeyframeStart(f *testing.F) {
	seeds := []struct {
		k Kind
		p []byte
	}{
		{VP8, []byte{0x10, 0x00}},
		{VP8, []byte{0x90, 0xf0, 0x81, 0x02, 0x33, 0xbb, 0x00}},
		{VP9, []byte{0xa8, 0x80, 0x05, 0x00}},
		{VP9, []byte{0x28}},
		{H264, []byte{0x65, 0x88}},
		{H264, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68}},
		{H264, []byte{0x78, 0xff, 0xff, 0x67}},
		{H264, []byte{0x7c, 0x85}},
		{AV1, []byte{0x18}},
		{Opus, []byte{0x00}},
	}
	for _, s := range seeds {
		f.Add(uint8(s.k), s.p)
	}
	f.Fuzz(func(t *testing.T, k uint8, p []byte) {
		orig := bytes.Clone(p)
		kind := Kind(k % (uint8(PCMA) + 1))
		got := IsKeyframeStart(kind, p)
		if !bytes.Equal(p, orig) {
			t.Fatal("IsKeyframeStart modified its input")
		}
		if len(p) == 0 && got {
			t.Fatal("empty payload is a keyframe")
		}
		switch kind {
		case VP8, VP9, H264, AV1:
		default:
			if got {
				t.Fatalf("kind %d has no keyframes", kind)
			}
		}
		if got && kind == H264 {
			switch p[0] & 0x1f {
			case 5, 7, 24, 28:
			default:
				t.Fatalf("H.264 NAL type %d reported as keyframe", p[0]&0x1f)
			}
		}
		if got && kind == VP9 && p[0]&0x48 != 0x08 {
			t.Fatalf("VP9 keyframe with B=0 or P=1: %#x", p[0])
		}
	})
}

func FuzzREDPrimary(f *testing.F) {
	f.Add([]byte{111, 1, 2, 3})
	f.Add(append(append(redHeader(111, 960, 3), 111), 1, 2, 3, 4, 5))
	f.Add(append(append(append(redHeader(111, 1920, 1), redHeader(111, 960, 2)...), 111), 1, 2, 3, 4))
	f.Add(redHeader(111, 960, 1023))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		orig := bytes.Clone(p)
		block, ok := REDPrimary(p)
		if !bytes.Equal(p, orig) {
			t.Fatal("REDPrimary modified its input")
		}
		if !ok {
			if block != nil {
				t.Fatal("block returned with ok=false")
			}
			return
		}
		if len(block) > len(p) || len(p) == 0 {
			t.Fatalf("block of %d bytes from %d", len(block), len(p))
		}
		// The block must be the tail of p.
		if !bytes.Equal(block, p[len(p)-len(block):]) {
			t.Fatalf("block is not the tail of the payload")
		}
		if len(block) > 0 && &block[len(block)-1] != &p[len(p)-1] {
			t.Fatalf("block does not alias the payload's tail")
		}
		// Recompute the header walk independently.
		i, sum := 0, 0
		for p[i]&0x80 != 0 {
			sum += int(p[i+2]&3)<<8 | int(p[i+3])
			i += 4
		}
		if want := len(p) - (i + 1 + sum); want != len(block) {
			t.Fatalf("primary length %d, want %d", len(block), want)
		}
	})
}
