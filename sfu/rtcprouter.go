package sfu

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/transport/v5/packetio"
)

// Buffer limits of pion's SRTP read streams, kept for the streams Hop leaves to pion.
const (
	rtpStreamBuffer  = 1000 * 1000
	rtcpStreamBuffer = 100 * 1000
)

// rtcpRouter takes the RTCP a subscriber sends about what one connection sends it, as pion's SRTCP
// session demultiplexes it (by the SSRC each packet is about), and handles it on that session's
// goroutine: NACKs and keyframe requests go to the downtrack with that SSRC, transport-wide
// feedback and REMB to the connection's estimator.
//
// pion would otherwise queue each sender's RTCP in a buffer of its own for a goroutine per
// downtrack to read (and allocate a read buffer per packet): with eight tracks a subscriber cost
// eight goroutines and buffers, and an RR about eight streams woke all eight.
type rtcpRouter struct {
	mu     sync.Mutex // serialises changes to bySSRC
	bySSRC atomic.Pointer[map[uint32]*DownTrack]
	// onFeedback takes the connection-wide feedback (TWCC, REMB).
	onFeedback func([]rtcp.Packet)
}

func newRTCPRouter(onFeedback func([]rtcp.Packet)) *rtcpRouter {
	r := &rtcpRouter{onFeedback: onFeedback}
	m := map[uint32]*DownTrack{}
	r.bySSRC.Store(&m)
	return r
}

// add routes the RTCP about ssrc to dt (replacing a downtrack that had the SSRC before).
func (r *rtcpRouter) add(ssrc uint32, dt *DownTrack) {
	r.update(func(m map[uint32]*DownTrack) { m[ssrc] = dt })
}

// remove stops routing to dt.
func (r *rtcpRouter) remove(dt *DownTrack) {
	r.update(func(m map[uint32]*DownTrack) {
		for s, d := range m {
			if d == dt {
				delete(m, s)
			}
		}
	})
}

func (r *rtcpRouter) update(f func(map[uint32]*DownTrack)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.bySSRC.Load()
	m := make(map[uint32]*DownTrack, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	f(m)
	r.bySSRC.Store(&m)
}

func (r *rtcpRouter) lookup(ssrc uint32) *DownTrack { return (*r.bySSRC.Load())[ssrc] }

// bufferFactory is the connection's pion BufferFactory: RTCP streams route through the router;
// everything else gets the buffer pion would have made.
func (r *rtcpRouter) bufferFactory(kind packetio.BufferPacketType, ssrc uint32) io.ReadWriteCloser {
	if kind == packetio.RTCPBufferPacket {
		return &rtcpStream{router: r, ssrc: ssrc, streamBuffer: newStreamBuffer(rtcpStreamBuffer)}
	}
	return newStreamBuffer(rtpStreamBuffer)
}

// streamBuffer is pion's own read-stream buffer: a bounded packet queue that keeps attributes.
type streamBuffer struct{ *packetio.Buffer }

func newStreamBuffer(limit int) *streamBuffer {
	b := &streamBuffer{packetio.NewBuffer()}
	b.SetLimitSize(limit)
	return b
}

func (b *streamBuffer) Read(p []byte) (int, error) {
	n, _, err := b.Buffer.Read(p, nil)
	return n, err
}

func (b *streamBuffer) Write(p []byte) (int, error) { return b.Buffer.Write(p, nil) }

func (b *streamBuffer) ReadWithAttributes(p []byte, a packetio.Attributes) (int, packetio.Attributes, error) {
	return b.Buffer.Read(p, a)
}

func (b *streamBuffer) WriteWithAttributes(p []byte, a packetio.Attributes) (int, error) {
	return b.Buffer.Write(p, a)
}

// rtcpStream is the SRTCP read stream of one SSRC. Packets about a downtrack are handled as they
// are written; any other (a publisher's sender reports, or a packet that came before its
// downtrack was attached) is queued for pion's readers as usual.
type rtcpStream struct {
	router *rtcpRouter
	ssrc   uint32
	*streamBuffer
}

func (s *rtcpStream) Write(p []byte) (int, error) { return s.WriteWithAttributes(p, nil) }

func (s *rtcpStream) WriteWithAttributes(p []byte, a packetio.Attributes) (int, error) {
	dt := s.router.lookup(s.ssrc)
	if dt == nil {
		return s.streamBuffer.WriteWithAttributes(p, a)
	}
	pkts, err := rtcp.Unmarshal(p)
	if err != nil {
		return len(p), nil // malformed: dropped, as pion's reader would
	}
	s.router.onFeedback(pkts)
	dt.handleRTCP(pkts, time.Now().UnixNano())
	return len(p), nil
}
