package sfu

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/bwe"
	"github.com/hop-meet/hop/sfu/codecs"
	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/packetcache"
	"github.com/hop-meet/hop/sfu/srtpout"
)

// countingWriter stands in for the connection's SRTP sender: it marshals the packet into a pooled
// buffer (so the copy lands in memory hot on the writing core, not in a buffer per subscriber) and
// counts. A subscriber's is allocated from its lane's memory (forwarder.Alloc), as its downtracks
// are.
type countingWriter struct {
	// out, when set, is a node's SRTP sender (AES-GCM) on a route that drops what it encrypts:
	// the packet goes through it instead of the pooled buffer.
	out *srtpout.Sender
	n   atomic.Int64
	seq atomic.Uint32 // sequence number of the last packet written
	// progress hears when n reaches target, so a benchmark can wait without spinning.
	progress chan struct{}
	target   atomic.Int64
	// Writers are allocated one after another and alternate between the writer goroutines: pad
	// each to its own cache lines so the counters don't bounce between cores.
	_ [128 - 40]byte
}

const window = 32

var packetBufs = sync.Pool{New: func() any { return new([1500]byte) }}

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	var n int
	if w.out != nil {
		var err error
		if _, n, err = w.out.WriteRTP(h, payload); err != nil {
			panic(fmt.Sprintf("srtp sender: %v", err)) // on a writer goroutine: b.Fatal cannot be called here
		}
		w.seq.Store(uint32(h.SequenceNumber))
	} else {
		buf := packetBufs.Get().(*[1500]byte)
		n, _ = h.MarshalTo(buf[:])
		n += copy(buf[n:], payload)
		w.seq.Store(uint32(binary.BigEndian.Uint16(buf[2:4])))
		packetBufs.Put(buf)
	}
	if w.n.Add(1) == w.target.Load() {
		select {
		case w.progress <- struct{}{}:
			// Let the woken dispatcher run now: queued behind this busy writer it would wait
			// until the writer's queue ran dry, idling the writers. (A real receive goroutine
			// is woken by the network poller instead.)
			runtime.Gosched()
		default: // a wake-up is already pending
		}
	}
	return n, nil
}

func (w *countingWriter) Write(b []byte) (int, error) { w.n.Add(1); return len(b), nil }

type fakeBind struct {
	codecs []webrtc.RTPCodecParameters
	w      webrtc.TrackLocalWriter
	ssrc   webrtc.SSRC
}

func (f *fakeBind) CodecParameters() []webrtc.RTPCodecParameters { return f.codecs }
func (f *fakeBind) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter {
	return []webrtc.RTPHeaderExtensionParameter{{URI: sdp.TransportCCURI, ID: 3}}
}
func (f *fakeBind) SSRC() webrtc.SSRC                       { return f.ssrc }
func (f *fakeBind) SSRCRetransmission() webrtc.SSRC         { return 0 }
func (f *fakeBind) SSRCForwardErrorCorrection() webrtc.SSRC { return 0 }
func (f *fakeBind) WriteStream() webrtc.TrackLocalWriter    { return f.w }
func (f *fakeBind) ID() string                              { return "bench" }
func (f *fakeBind) RTCPReader() interceptor.RTCPReader      { return nil }

var vp8 = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}

// benchTrack makes a VP8 track with subs bound downtracks writing to discarding writers.
func benchTrack(tb testing.TB, subs int) (*Track, []*countingWriter) {
	tb.Helper()
	hists := make([]*bwe.History, subs)
	for i := range hists {
		hists[i] = bwe.New(bwe.DefaultConfig, nil).History() // as Attach does: one per subscriber
	}
	return benchTrackFor(tb, nil, hists, nil)
}

// benchTrackFor makes a VP8 track writing on pool (nil: its own) with a downtrack for each
// subscriber connection, given by its bandwidth estimator's history and its lane (nil: none).
func benchTrackFor(tb testing.TB, pool *forwarder.Pool, hists []*bwe.History, lanes []*forwarder.Lane) (*Track, []*countingWriter) {
	tb.Helper()
	subs := len(hists)
	t := NewTrack(TrackParams{ID: "TR_bench", PublisherID: "PA_bench", Kind: webrtc.RTPCodecTypeVideo, Writers: pool})
	c := vp8
	t.codec.Store(&c)
	t.codecKind.Store(uint32(codecs.VP8))
	ws := make([]*countingWriter, subs)
	for i := range ws {
		var lane *forwarder.Lane
		if lanes != nil {
			lane = lanes[i]
		}
		ws[i] = forwarder.Alloc[countingWriter](lane)
		ws[i].progress = make(chan struct{}, 1)
		dt := NewDownTrack(DownTrackParams{Track: t, SubscriberID: fmt.Sprint(i), StreamID: "s", DesiredLayer: 0, Lane: lane})
		if _, err := dt.Bind(&fakeBind{codecs: []webrtc.RTPCodecParameters{vp8}, w: ws[i], ssrc: webrtc.SSRC(1000 + i)}); err != nil {
			tb.Fatal(err)
		}
		dt.hist.Store(hists[i])

		t.AddDownTrack(dt)
	}
	return t, ws
}

// vp8Packets fills a cache with a keyframe followed by delta frames, 1100-byte payloads.
func vp8Packets(tb testing.TB, n int) (*packetcache.Cache, []*packetcache.Packet) {
	tb.Helper()
	// Room for all n: the benchmarks replay these slots as a live stream, the keyframe first,
	// and a slot overwritten before it is sent would leave the downtracks waiting for a keyframe.
	cache := packetcache.New(max(n, videoCacheSize))
	pkts := make([]*packetcache.Packet, 0, n)
	var h rtp.Header
	raw := make([]byte, 1200)
	for i := 0; i < n; i++ {
		h = rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), Timestamp: uint32(i/4) * 3000, SSRC: 42, Marker: i%4 == 3}
		hl, _ := h.MarshalTo(raw)
		payload := raw[hl : hl+1100]
		// VP8 descriptor: X=1, S on frame starts; I=1 with a 15-bit picture id; then the VP8 header.
		payload[0] = 0x80
		if i%4 == 0 {
			payload[0] |= 0x10
		}
		payload[1] = 0x80
		payload[2], payload[3] = 0x80|byte(i/4>>8), byte(i/4)
		payload[4] = 0x01 // inter frame
		if i == 0 {
			payload[4] = 0x00 // keyframe
		}
		p, err := cache.Put(raw[:hl+1100], &h, hl, time.Now().UnixNano())
		if err != nil {
			tb.Fatal(err)
		}
		d, _ := codecs.ParseVP8(p.Payload())
		p.Keyframe, p.FrameStart = d.IsKeyframe, d.Start
		pkts = append(pkts, p)
	}
	return cache, pkts
}

// BenchmarkDownTrackWrite measures one subscriber's per-packet work: layer check, munging, NACK
// history and the header marshal, without the network.
func BenchmarkDownTrackWrite(b *testing.B) {
	t, ws := benchTrack(b, 1)
	defer t.Close()
	dt := t.DownTracks()[0]
	t.fwd.Remove(dt) // drive it directly, on this goroutine
	_, pkts := vp8Packets(b, 512)
	var scratch forwarder.Scratch
	dt.WritePacket(0, pkts[0], time.Now().UnixNano(), &scratch)
	b.ReportAllocs()
	b.SetBytes(1100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pkts[1+i%511]
		p.SequenceNumber, p.Timestamp = uint16(i+1), uint32((i+1)/4)*3000
		dt.WritePacket(0, p, int64(i), &scratch)
	}
	b.StopTimer()
	if ws[0].n.Load() < int64(b.N) {
		b.Fatalf("only %d of %d packets written", ws[0].n.Load(), b.N)
	}
}

// BenchmarkForward measures the whole fan-out: the read side dispatches each packet once and the
// writer pool (a writer per core) writes it to every subscriber, each subscriber a connection with
// its own lane, as in the node. ns/op is per received packet; ns/fwd is per packet written to one
// subscriber.
func BenchmarkForward(b *testing.B) { benchmarkForward(b, false) }

// BenchmarkForwardSRTP is BenchmarkForward with each copy encrypted (AES-GCM) by a node's SRTP
// sender (sfu/srtpout), one per subscriber: everything a forwarded packet costs but the system
// call.
func BenchmarkForwardSRTP(b *testing.B) { benchmarkForward(b, true) }

func benchmarkForward(b *testing.B, seal bool) {
	for _, subs := range []int{1, 10, 100, 500} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			pool := forwarder.NewPool(runtime.GOMAXPROCS(0), nil)
			defer pool.Close()
			hists := make([]*bwe.History, subs)
			lanes := make([]*forwarder.Lane, subs)
			for i := range hists {
				hists[i] = bwe.New(bwe.DefaultConfig, nil).History()
				lanes[i] = pool.Lane()
			}
			t, ws := benchTrackFor(b, pool, hists, lanes)
			defer t.Close()
			if seal {
				for _, w := range ws {
					w.out = srtpout.NewSender()
					k := srtpout.Keys{Key: make([]byte, 16), Salt: make([]byte, 12), Profile: srtp.ProtectionProfileAeadAes128Gcm}
					if err := w.out.StartKeys(k); err != nil {
						b.Fatal(err)
					}
					w.out.SetRoute(&srtpout.Route{})
				}
			}
			_, pkts := vp8Packets(b, 1024)
			t.fwd.Dispatch(0, pkts[0])
			waitWritten(b, ws, 1)
			writers := t.fwd.Writers()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				// Reuse the cached packets with ever-increasing sequence numbers, as a live stream.
				p := pkts[1+i%1023]
				p.SequenceNumber, p.Timestamp = uint16(i+1), uint32((i+1)/4)*3000
				t.fwd.Dispatch(0, p)
				// Pace like a real stream: stay at most three windows ahead of the writers,
				// parked (as a receive goroutine blocked on its socket) rather than spinning, so
				// the writers have every core.
				if (i+1)%window == 0 && i >= 3*window {
					awaitWritten(b, ws, writers, int64(i+2-3*window))
				}
			}
			waitWritten(b, ws, int64(b.N+1))
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(el.Nanoseconds())/float64(b.N*subs), "ns/fwd")
			b.ReportMetric(float64(t.fwd.Writers()), "writers")
		})
	}
}

// BenchmarkRoom measures a meeting's fan-out: every subscriber receives each of several
// publishers' video tracks, all of a subscriber's downtracks numbering their packets in one
// transport-wide sequence (one bandwidth estimator per connection, as in the node). One goroutine
// stands in for the publishers' receive goroutines, dispatching a packet of each track in turn.
// ns/op is per packet of every track; ns/fwd is per packet written to one subscriber.
func BenchmarkRoom(b *testing.B) {
	for _, c := range []struct{ pubs, subs int }{{4, 30}, {4, 100}} {
		b.Run(fmt.Sprintf("publishers=%d/subscribers=%d", c.pubs, c.subs), func(b *testing.B) {
			pool := forwarder.NewPool(runtime.GOMAXPROCS(0), nil)
			defer pool.Close()
			hists := make([]*bwe.History, c.subs)
			lanes := make([]*forwarder.Lane, c.subs)
			for i := range hists {
				hists[i] = bwe.New(bwe.DefaultConfig, nil).History()
				lanes[i] = pool.Lane()
			}
			tracks := make([]*Track, c.pubs)
			sinks := make([][]*countingWriter, c.pubs)
			pkts := make([][]*packetcache.Packet, c.pubs)
			for k := range tracks {
				tracks[k], sinks[k] = benchTrackFor(b, pool, hists, lanes)
				defer tracks[k].Close()
				_, pkts[k] = vp8Packets(b, 1024)
				tracks[k].fwd.Dispatch(0, pkts[k][0])
				waitWritten(b, sinks[k], 1)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for k, t := range tracks {
					p := pkts[k][1+i%1023]
					p.SequenceNumber, p.Timestamp = uint16(i+1), uint32((i+1)/4)*3000
					t.fwd.Dispatch(0, p)
				}
				if (i+1)%window == 0 && i >= 3*window {
					for k, t := range tracks {
						awaitWritten(b, sinks[k], t.fwd.Writers(), int64(i+2-3*window))
					}
				}
			}
			for k := range tracks {
				waitWritten(b, sinks[k], int64(b.N+1))
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(el.Nanoseconds())/float64(b.N*c.pubs*c.subs), "ns/fwd")
		})
	}
}

// awaitWritten blocks until every sink has written n packets. A writer serves its sinks in the
// order they were added and each new sink went to the least loaded writer, so the last `writers`
// sinks are the last of each writer's list: once they are done the others are too, and only they
// are read (reading every sink's counter would pull each line away from its writer's core).
func awaitWritten(tb testing.TB, ws []*countingWriter, writers int, n int64) {
	for _, w := range ws[max(0, len(ws)-writers):] {
		if w.n.Load() >= n {
			continue
		}
		w.target.Store(n)
		for w.n.Load() < n {
			<-w.progress // a stuck writer ends in go test's -timeout
		}
	}
}

func waitWritten(tb testing.TB, ws []*countingWriter, n int64) {
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range ws {
		for w.n.Load() < n {
			if time.Now().After(deadline) {
				tb.Fatalf("writer stuck at %d of %d", w.n.Load(), n)
			}
			// Yield rather than sleep: the writers finish within microseconds, and with
			// GOMAXPROCS=1 they run only when this goroutine steps aside.
			runtime.Gosched()
		}
	}
}
