package recorder

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/packetcache"
)

// vp8Source stands for the SFU track in the benchmark: the writer only asks it for the codec
// and for keyframes.
type vp8Source struct{}

func (vp8Source) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeVideo }
func (vp8Source) Codec() (webrtc.RTPCodecParameters, bool) {
	return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}}, true
}
func (vp8Source) RequestKeyframe(int8) {}

// vp8Packets makes frames of three 1,100-byte packets at 30 fps, a keyframe every second: about
// the packet rate of a 720p camera at 800 kbit/s.
func vp8Packets(n int) []packetcache.Packet {
	out := make([]packetcache.Packet, n)
	for i := range out {
		p := &out[i]
		f := i / 3
		first := i%3 == 0
		body := p.Data[12 : 12+1100]
		body[0] = 0x00
		if first {
			body[0] = 0x10 // S: start of the partition
			body[1] = 0x01 // an inter frame
			if f%30 == 0 {
				body[1] = 0x00 // a keyframe: size 1280x720
				body[4], body[5], body[6] = 0x9d, 0x01, 0x2a
				body[7], body[8], body[9], body[10] = 0x00, 0x05, 0xd0, 0x02
				p.Keyframe = true
			}
		}
		p.Len, p.PayloadStart, p.PayloadEnd = 12+1100, 12, 12+1100
		p.SequenceNumber = uint16(i)
		p.Timestamp = uint32(f * 3000)
		p.Marker = i%3 == 2
		p.ArrivalNanos = int64(f) * 33_333_333
	}
	return out
}

// BenchmarkTrackWriterVP8 is the CPU of recording one track, per packet, from the forwarder's
// copy to the file (passthrough).
func BenchmarkTrackWriterVP8(b *testing.B) {
	pkts := vp8Packets(3 * 30 * 10)
	w, err := NewTrackWriter(vp8Source{}, TrackParams{Path: filepath.Join(b.TempDir(), "bench")})
	if err != nil {
		b.Fatal(err)
	}
	w.LayersChanged([3]bool{true})
	b.ReportAllocs()
	b.ResetTimer()
	base := int64(0)
	for i := 0; i < b.N; i++ {
		j := i % len(pkts)
		if j == 0 && i > 0 {
			base += int64(len(pkts))
		}
		p := pkts[j]
		p.SequenceNumber = uint16(i)
		p.Timestamp = uint32((base + int64(j)) / 3 * 3000)
		p.ArrivalNanos = (base + int64(j)) / 3 * 33_333_333
		for len(w.queue) == cap(w.queue) {
			runtime.Gosched() // measure writing, not dropping
		}
		w.WritePacket(0, &p, 0, nil)
	}
	res := w.Stop()
	b.StopTimer()
	if (b.N >= len(pkts) && res.Frames == 0) || res.Dropped != 0 {
		b.Fatalf("wrote %d frames, dropped %d packets: %+v", res.Frames, res.Dropped, res)
	}
}

// BenchmarkTrackWriterMemory is the heap one recorded track holds while it records (queue,
// reorder buffer, container and file buffers), over many writers at once.
func BenchmarkTrackWriterMemory(b *testing.B) {
	const tracks = 50
	pkts := vp8Packets(3 * 30 * 2)
	dir := b.TempDir()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ws := make([]*TrackWriter, tracks)
		for k := range ws {
			w, err := NewTrackWriter(vp8Source{}, TrackParams{Path: filepath.Join(dir, fmt.Sprintf("m%d-%d", i, k))})
			if err != nil {
				b.Fatal(err)
			}
			w.LayersChanged([3]bool{true})
			for j := range pkts {
				for len(w.queue) == cap(w.queue) {
					runtime.Gosched()
				}
				w.WritePacket(0, &pkts[j], 0, nil)
			}
			ws[k] = w
		}
		for _, w := range ws {
			for len(w.queue) > 0 {
				runtime.Gosched()
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/tracks/1024, "heapKiB/track")
		for _, w := range ws {
			if res := w.Stop(); res.Frames == 0 {
				b.Fatalf("wrote nothing: %+v", res)
			}
		}
	}
}
