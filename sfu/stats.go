package sfu

import (
	"sync"
	"sync/atomic"

	"github.com/hop-meet/hop/sfu/srtpin"
	"github.com/hop-meet/hop/sfu/srtpout"
	"github.com/hop-meet/hop/sfu/udpbatch"
)

// Stats adds up what the engine's tracks and downtracks counted. Counters live in each object (no
// shared counter on the packet path); a snapshot walks the live ones and adds the totals of those
// already gone.
type Stats struct {
	mu      sync.Mutex
	tracks  map[*Track]struct{}
	downs   map[*DownTrack]struct{}
	retired Snapshot
	// batch, if set, is the socket's send batching, counted as it is.
	batch *udpbatch.Conn
	demux *srtpin.Demux
	// conns counts the open PeerConnections.
	conns atomic.Int64
	// senders are the connections' own SRTP senders (see sfu/srtpout), which count what they send.
	senders map[*srtpout.Sender]struct{}
}

// Snapshot is a set of totals since the engine started.
type Snapshot struct {
	PacketsReceived, BytesReceived, PacketsLost uint64
	PacketsSent, BytesSent                      uint64
	NACKs, Retransmits, PLIs                    uint64
	// NACKsSent counts packets asked for again from publishers (lost on the way in).
	NACKsSent uint64
	// LostForGood counts NACKed video packets that could not be sent again (see DownTrack).
	LostForGood  uint64
	ForwardDrops uint64
	// SendCalls system calls sent BatchedPackets packets; SendDrops were dropped because the
	// socket could not take them as fast as they came. SendOverflows counts batches the send
	// socket's full buffer pushed onto the read socket.
	SendCalls, BatchedPackets, SendDrops, SendOverflows uint64
	// SendMessages is how many messages those calls carried: with segmentation offload, one
	// message can carry several packets to one peer.
	SendMessages uint64
	// LanePackets were queued in a forwarder writer's own batch; LaneRoutes peer addresses are
	// routed to one (see udpbatch).
	LanePackets uint64
	LaneRoutes  int
	// DirectPackets were encrypted and sent by the connections' own SRTP senders, not pion's.
	DirectPackets uint64
	// DirectReceived RTP packets were taken from the socket by sfu/srtpin rather than pion's
	// read path; DirectDropped of those failed to decrypt.
	DirectReceived, DirectDropped uint64
	// DirectRTCP compound RTCP packets were read on the fast path (see inbound.rtcp).
	DirectRTCP         uint64
	Tracks, DownTracks int
	PeerConnections    int
}

func newStats() *Stats {
	return &Stats{tracks: map[*Track]struct{}{}, downs: map[*DownTrack]struct{}{}, senders: map[*srtpout.Sender]struct{}{}}
}

func (s *Stats) addTrack(t *Track) {
	s.mu.Lock()
	s.tracks[t] = struct{}{}
	s.mu.Unlock()
}

func (s *Stats) removeTrack(t *Track) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tracks[t]; !ok {
		return
	}
	delete(s.tracks, t)
	addTrackTotals(&s.retired, t)
}

func (s *Stats) addDownTrack(dt *DownTrack) {
	s.mu.Lock()
	s.downs[dt] = struct{}{}
	s.mu.Unlock()
}

func (s *Stats) removeDownTrack(dt *DownTrack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.downs[dt]; !ok {
		return
	}
	delete(s.downs, dt)
	addDownTotals(&s.retired, dt)
}

func (s *Stats) addSender(x *srtpout.Sender) {
	s.mu.Lock()
	s.senders[x] = struct{}{}
	s.mu.Unlock()
}

func (s *Stats) removeSender(x *srtpout.Sender) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.senders[x]; !ok {
		return
	}
	delete(s.senders, x)
	s.retired.DirectPackets += x.Sent()
}

func addTrackTotals(sn *Snapshot, t *Track) {
	for i := range t.receivers {
		if r := t.receivers[i].Load(); r != nil {
			p, b, l := r.Stats()
			sn.PacketsReceived += p
			sn.BytesReceived += b
			if l > 0 {
				sn.PacketsLost += uint64(l)
			}
		}
	}
	sn.ForwardDrops += t.fwd.Dropped()
	sn.NACKsSent += t.NACKsSent()
}

func addDownTotals(sn *Snapshot, dt *DownTrack) {
	p, b, n, r, pl := dt.Stats()
	sn.PacketsSent += p
	sn.BytesSent += b
	sn.NACKs += n
	sn.Retransmits += r
	sn.PLIs += pl
	sn.LostForGood += dt.LostForGood()
}

// Snapshot returns the totals now.
func (s *Stats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := s.retired
	if s.batch != nil {
		sn.SendCalls, sn.BatchedPackets, sn.SendDrops = s.batch.Stats()
		sn.SendOverflows = s.batch.Overflows()
		sn.SendMessages = s.batch.Messages()
	}
	if s.demux != nil {
		sn.DirectReceived, sn.DirectDropped = s.demux.Stats()
		sn.DirectRTCP = s.demux.RTCPTaken()
		sn.LanePackets, sn.LaneRoutes = s.batch.LanePackets(), s.batch.Routes()
	}
	for t := range s.tracks {
		addTrackTotals(&sn, t)
	}
	for dt := range s.downs {
		addDownTotals(&sn, dt)
	}
	sn.Tracks, sn.DownTracks = len(s.tracks), len(s.downs)
	sn.PeerConnections = int(s.conns.Load())
	for x := range s.senders {
		sn.DirectPackets += x.Sent()
	}
	return sn
}
