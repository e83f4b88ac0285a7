package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/tick"
	"github.com/hop-meet/hop/sfu/alloc"
	"github.com/hop-meet/hop/sfu/bwe"
	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/srtpout"
)

// Role says who makes offers on a Transport.
type Role int

const (
	// RoleAnswerer: the client offers and the server answers (a publisher connection, or the single
	// connection of LiveKit's /rtc/v1 mode, where subscribed tracks ride in slots the client offered).
	RoleAnswerer Role = iota
	// RoleOfferer: the server offers (the subscriber connection of the two-connection mode).
	RoleOfferer
)

// ErrClosed is returned by a Transport that has been closed.
var ErrClosed = errors.New("transport closed")

// TransportParams configures a Transport.
type TransportParams struct {
	Engine *Engine
	Role   Role
	Logger *slog.Logger
	// OnICECandidate receives local candidates; nil means gathering is complete.
	OnICECandidate func(*webrtc.ICECandidateInit)
	// OnOffer sends a server offer (RoleOfferer).
	OnOffer func(offer webrtc.SessionDescription, id uint32, midToTrack map[string]string)
	// OnTrack is told of each incoming track (and simulcast layer).
	OnTrack func(*webrtc.TrackRemote, *webrtc.RTPReceiver)
	// OnDataChannel is told of channels the client opens.
	OnDataChannel func(*webrtc.DataChannel)
	// OnStateChange follows the connection state.
	OnStateChange func(webrtc.PeerConnectionState)
	// AnswerSettle (RoleAnswerer) holds media on downtracks placed by an answer for this long, for
	// clients that mishandle media arriving before they apply the answer.
	AnswerSettle time.Duration
}

// Transport is one pion PeerConnection with the negotiation rules of its role. All SDP handling is
// serialised by its mutex; no network I/O happens under it except pion's own.
type Transport struct {
	p   TransportParams
	pc  *webrtc.PeerConnection
	log *slog.Logger
	// est estimates the bandwidth towards the peer from its feedback on what this connection sends.
	est *bwe.Estimator
	// lane is the writer that sends every forwarded packet of this connection, taken when the
	// first downtrack asks for it (a publishing connection never does); remote is the peer
	// address of the selected ICE pair, and routed what is routed to the lane's batch. All
	// guarded by mu.
	lane           *forwarder.Lane
	remote, routed netip.AddrPort
	// pair is the selected ICE pair (guarded by mu); out sends this connection's RTP, with keys
	// from the DTLS handshake hs watched (see sfu/srtpout).
	pair     *webrtc.ICECandidatePair
	tcpUfrag string // the local ufrag, when the pair is ICE-TCP
	out      *srtpout.Sender
	hs       srtpout.Handshake
	// in handles the media the peer sends.
	in inbound

	mu                sync.Mutex
	closed            bool
	pendingCandidates []webrtc.ICECandidateInit
	// cands bounds the remote candidates and applies the peer address policy to them.
	cands *remoteCands

	// Offerer state: an offer is out and unanswered; changes since need another round.
	negotiating bool
	again       bool
	iceRestart  bool
	offerID     uint32

	// Downtracks and the transceivers carrying them.
	attached map[*DownTrack]*webrtc.RTPTransceiver
	// Answerer: downtracks waiting for a free slot in the client's next offer.
	pending []*DownTrack
	// Answerer: a transceiver freed in a round is reused only after the client saw it inactive.
	freedAt map[*webrtc.RTPTransceiver]int
	round   int
	// recvSlots are the mids the client's last offer receives on.
	recvSlots map[string]bool
	// noRED stops asking the client to publish audio as RED.
	noRED atomic.Bool

	// Bandwidth allocation runs on its own goroutine, on a timer and when the estimate moves.
	allocKick chan struct{}
	// downs are the attached downtracks, for keyframe requests and NACKs read by the fast path.
	downs     atomic.Pointer[[]*DownTrack]
	lastAlloc string // the last decisions logged
	done      chan struct{}
	wg        sync.WaitGroup
}

// NewTransport makes a PeerConnection on the engine's sockets.
func NewTransport(p TransportParams) (*Transport, error) {
	if p.Logger == nil {
		p.Logger = p.Engine.log
	}
	t := &Transport{
		p:         p,
		log:       p.Logger,
		attached:  map[*DownTrack]*webrtc.RTPTransceiver{},
		freedAt:   map[*webrtc.RTPTransceiver]int{},
		allocKick: make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	t.cands = newRemoteCands(p.Engine.peers, p.Logger)
	t.in.t = t
	t.in.in.Bind(p.Engine.demux)
	t.in.in.SetRTCP(t.in.rtcp)
	t.est = bwe.New(bwe.DefaultConfig, func(uint64) { t.kickAllocation() })
	t.out = srtpout.NewSender()
	// The server offers only on the subscriber connection of the two-connection mode, which
	// carries no media from the client.
	pc, err := p.Engine.NewPeerConnection(t.onRTCP, p.Role == RoleOfferer, &t.hs, t.in.built, t.cands.filter)
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	t.pc = pc
	inbounds.Store(pc.SCTP().Transport(), &t.in)
	// The handshake is over (and pion's own SRTP sessions not yet started): from here on either
	// this connection's sender or pion sends its RTP.
	pc.SCTP().Transport().OnStateChange(func(s webrtc.DTLSTransportState) {
		if s != webrtc.DTLSTransportStateConnected {
			return
		}
		remote, err := t.out.Start(&t.hs)
		if err != nil {
			t.log.Debug("rtp sent and received through pion", "reason", err)
			return
		}
		if err := t.in.in.Start(remote); err != nil {
			t.log.Debug("rtp received through pion", "reason", err)
		}
	})
	p.Engine.stats.conns.Add(1)
	p.Engine.stats.addSender(t.out)
	t.wg.Add(1)
	go t.allocLoop()
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if p.OnICECandidate == nil {
			return
		}
		if c == nil {
			p.OnICECandidate(nil)
			return
		}
		ci := c.ToJSON()
		p.OnICECandidate(&ci)
	})
	// Send the lane's packets to the peer through the lane's own batch (see udpbatch).
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(t.route)
	if p.OnTrack != nil {
		pc.OnTrack(p.OnTrack)
	}
	if p.OnDataChannel != nil {
		pc.OnDataChannel(p.OnDataChannel)
	}
	if p.OnStateChange != nil {
		pc.OnConnectionStateChange(p.OnStateChange)
	}
	return t, nil
}

// route follows the selected candidate pair: on UDP, the engine's socket queues what is sent to
// the peer's address in this connection's lane batch, and the connection's sender writes there;
// on ICE-TCP, the sender writes to the agent's TCP connection.
func (t *Transport) route(pair *webrtc.ICECandidatePair) {
	var addr netip.AddrPort
	if pair != nil && pair.Remote != nil && pair.Remote.Protocol == webrtc.ICEProtocolUDP {
		if ip, err := netip.ParseAddr(pair.Remote.Address); err == nil {
			addr = netip.AddrPortFrom(ip, pair.Remote.Port)
		}
	}
	// Read before taking mu: pion calls this with its ICE lock held, and the parameters need it.
	var ufrag string
	if pair != nil && pair.Local != nil && pair.Local.Protocol == webrtc.ICEProtocolTCP {
		if lp, err := t.pc.SCTP().Transport().ICETransport().GetLocalParameters(); err == nil {
			ufrag = lp.UsernameFragment
		}
	}
	t.in.route(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.remote, t.pair, t.tcpUfrag = addr, pair, ufrag
	t.routeLocked()
}

// routeLocked routes the peer's address to the lane, if both are known, and tells the sender
// where packets go. t.mu must be held.
func (t *Transport) routeLocked() {
	conn := t.p.Engine.batch
	want := t.remote
	if t.closed || t.lane == nil {
		want = netip.AddrPort{}
	}
	if want != t.routed {
		if t.routed.IsValid() {
			conn.Unroute(t.routed)
		}
		t.routed = want
		if want.IsValid() {
			conn.Route(want, t.lane.Index())
		}
	}
	t.out.SetRoute(t.outRouteLocked())
}

// outRouteLocked is where the sender writes for the selected pair (nil: nowhere).
func (t *Transport) outRouteLocked() *srtpout.Route {
	switch p := t.pair; {
	case t.closed || p == nil || p.Local == nil || p.Remote == nil:
		return nil
	case t.remote.IsValid() && p.Local.Protocol == webrtc.ICEProtocolUDP:
		lane := -1
		if t.lane != nil {
			lane = t.lane.Index()
		}
		return &srtpout.Route{UDP: t.p.Engine.batch, Lane: lane, Addr: t.remote}
	case p.Local.Protocol == webrtc.ICEProtocolTCP && t.p.Engine.tcpMux != nil && t.tcpUfrag != "":
		ip, err := netip.ParseAddr(p.Remote.Address)
		if err != nil {
			return nil
		}
		pc := t.p.Engine.tcpMux.conn(t.tcpUfrag, p.Local.Address, ip.Is6() && !ip.Is4In6())
		if pc == nil {
			return nil
		}
		return &srtpout.Route{Lane: -1, TCP: pc, To: net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, p.Remote.Port))}
	}
	return nil
}

// onRTCP takes the peer's feedback on what this connection sends. It reads the compound packet
// in place: transport-wide feedback arrives many times a second from every subscriber.
func (t *Transport) onRTCP(compound []byte) {
	now := time.Now()
	for b := compound; ; {
		pkt, rest, ok := nextRTCP(b)
		if !ok {
			return
		}
		b = rest
		switch pt, format := rtcpKind(pkt); {
		case pt == rtcpSR:
			// The publisher's clock for one of its streams, for the recorder to line tracks up.
			t.in.senderReport(pkt)
		case pt == rtcpRTPFB && format == fmtTWCC:
			if err := t.est.OnTWCC(pkt, now); err != nil {
				t.log.Debug("malformed transport-wide feedback", "err", err)
			}
		case pt == rtcpPSFB && format == fmtAFB:
			// REMB, only from peers without transport-wide feedback: rare enough to parse fully.
			var remb rtcp.ReceiverEstimatedMaximumBitrate
			if remb.Unmarshal(pkt) == nil {
				t.est.OnREMB(remb.Bitrate, now)
			}
		}
	}
}

// Estimator is the bandwidth estimate towards the peer.
func (t *Transport) Estimator() *bwe.Estimator { return t.est }

// PeerConnection exposes the pion connection (for data channels and statistics).
func (t *Transport) PeerConnection() *webrtc.PeerConnection { return t.pc }

// WriteRTCP sends RTCP on this connection.
func (t *Transport) WriteRTCP(pkts []rtcp.Packet) error { return t.pc.WriteRTCP(pkts) }

// AddICECandidate adds a remote candidate, holding it until the remote description is known.
func (t *Transport) AddICECandidate(c webrtc.ICECandidateInit) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if c.Candidate != "" && !t.cands.take(c.Candidate) {
		return nil
	}
	if t.pc.RemoteDescription() == nil {
		if len(t.pendingCandidates) < MaxRemoteCandidates {
			t.pendingCandidates = append(t.pendingCandidates, c)
		}
		return nil
	}
	if err := t.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("add ice candidate: %w", err)
	}
	return nil
}

func (t *Transport) flushCandidatesLocked() {
	for _, c := range t.pendingCandidates {
		if err := t.pc.AddICECandidate(c); err != nil {
			t.log.Debug("queued ice candidate rejected", "err", err)
		}
	}
	t.pendingCandidates = nil
}

// limitCandidatesLocked keeps a remote description's candidates within the connection's budget
// and policy, starting a new budget on an ICE restart.
func (t *Transport) limitCandidatesLocked(sdp string) string {
	t.cands.generation(ufragOf(sdp))
	return t.cands.limitSDP(sdp)
}

// HandleOffer answers a client offer (RoleAnswerer). Downtracks waiting for a slot are placed in the
// offer's free receive-only media sections first. It returns the answer, the mid→track SID map of
// everything this connection sends, and how many audio and video downtracks still lack a slot.
func (t *Transport) HandleOffer(offer webrtc.SessionDescription) (webrtc.SessionDescription, map[string]string, [2]int, error) {
	var missing [2]int
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return webrtc.SessionDescription{}, nil, missing, ErrClosed
	}
	if t.p.Role != RoleAnswerer {
		return webrtc.SessionDescription{}, nil, missing, errors.New("this connection does not take offers")
	}
	offer.SDP = t.limitCandidatesLocked(offer.SDP)
	recvSlots, audioSends, err := offerDirections(offer.SDP)
	if err != nil {
		return webrtc.SessionDescription{}, nil, missing, err
	}
	if err := t.pc.SetRemoteDescription(offer); err != nil {
		return webrtc.SessionDescription{}, nil, missing, fmt.Errorf("set remote offer: %w", err)
	}
	t.round++
	t.recvSlots = recvSlots
	var newlyAttached []*DownTrack
	if len(t.pending) > 0 {
		still := t.pending[:0]
		for _, dt := range t.pending {
			if dt.closed.Load() {
				continue
			}
			tr := t.freeSlotLocked(dt.Kind(), recvSlots)
			if tr == nil {
				still = append(still, dt)
				if dt.Kind() == webrtc.RTPCodecTypeAudio {
					missing[0]++
				} else {
					missing[1]++
				}
				continue
			}
			// AddTrack picks the first transceiver the client receives on that is free: the same
			// rule as freeSlotLocked, so it lands on tr. (Senders must come from the connection
			// itself: it alone holds the interceptors and the negotiated parameters.)
			sender, err := t.pc.AddTrack(dt)
			if err != nil {
				t.log.Warn("attach downtrack", "track", dt.ID(), "err", err)
				still = append(still, dt)
				continue
			}
			if got := transceiverOfSender(t.pc, sender); got != tr {
				t.log.Warn("downtrack landed in an unexpected transceiver", "track", dt.ID(), "want", tr.Mid(), "got", midOf(got))
				if got != nil && got.Mid() != "" {
					tr = got
				} else {
					_ = t.pc.RemoveTrack(sender)
					still = append(still, dt)
					continue
				}
			}
			if t.p.AnswerSettle > 0 {
				dt.HoldUntil(time.Now().Add(t.p.AnswerSettle))
			}
			t.attached[dt] = tr
			newlyAttached = append(newlyAttached, dt)
		}
		t.pending = still
		t.publishDownsLocked()
	}
	if !t.noRED.Load() {
		// Ask publishers for RED where their offer allows it (the browser sends the codec our
		// answer lists first).
		for _, tr := range t.pc.GetTransceivers() {
			if tr.Kind() == webrtc.RTPCodecTypeAudio && audioSends[tr.Mid()] {
				_ = tr.SetCodecPreferences(redFirst) // refused when the client offers no RED: fine
			}
		}
	}
	answer, err := t.pc.CreateAnswer(nil)
	if err != nil {
		return webrtc.SessionDescription{}, nil, missing, fmt.Errorf("create answer: %w", err)
	}
	if err := t.pc.SetLocalDescription(answer); err != nil {
		return webrtc.SessionDescription{}, nil, missing, fmt.Errorf("set local answer: %w", err)
	}
	t.flushCandidatesLocked()
	for _, dt := range newlyAttached {
		if s := t.attached[dt].Sender(); s != nil {
			dt.Attach(s, t.est.History(), t.out)
		}
	}
	for _, dt := range newlyAttached {
		t.p.Engine.stats.addDownTrack(dt)
	}
	if len(newlyAttached) > 0 {
		t.kickAllocation()
	}
	return *t.pc.LocalDescription(), t.midMapLocked(), missing, nil
}

func transceiverOfSender(pc *webrtc.PeerConnection, s *webrtc.RTPSender) *webrtc.RTPTransceiver {
	for _, tr := range pc.GetTransceivers() {
		if tr.Sender() == s {
			return tr
		}
	}
	return nil
}

func midOf(tr *webrtc.RTPTransceiver) string {
	if tr == nil {
		return ""
	}
	return tr.Mid()
}

// offerDirections lists the media sections of an offer in which the client only receives, and the
// audio sections in which it sends.
func offerDirections(raw string) (recvOnly, audioSends map[string]bool, err error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return nil, nil, fmt.Errorf("parse offer: %w", err)
	}
	recvOnly, audioSends = map[string]bool{}, map[string]bool{}
	for _, m := range sd.MediaDescriptions {
		mid, _ := m.Attribute("mid")
		if mid == "" || m.MediaName.Port.Value == 0 {
			continue
		}
		_, recv := m.Attribute("recvonly")
		_, inactive := m.Attribute("inactive")
		if recv {
			recvOnly[mid] = true
		} else if !inactive && m.MediaName.Media == "audio" {
			audioSends[mid] = true
		}
	}
	return recvOnly, audioSends, nil
}

// PreferRED says whether publishers on this connection should send audio as RED (default yes).
func (t *Transport) PreferRED(on bool) { t.noRED.Store(!on) }

func (t *Transport) freeSlotLocked(kind webrtc.RTPCodecType, recvSlots map[string]bool) *webrtc.RTPTransceiver {
	for _, tr := range t.pc.GetTransceivers() {
		if tr.Kind() != kind || tr.Sender() != nil || !recvSlots[tr.Mid()] {
			continue
		}
		if d := tr.Direction(); d != webrtc.RTPTransceiverDirectionSendonly && d != webrtc.RTPTransceiverDirectionInactive {
			continue
		}
		if r, ok := t.freedAt[tr]; ok && r >= t.round {
			continue
		}
		return tr
	}
	return nil
}

func (t *Transport) midMapLocked() map[string]string {
	m := map[string]string{}
	for dt, tr := range t.attached {
		if mid := tr.Mid(); mid != "" {
			m[mid] = dt.ID()
		}
	}
	return m
}

// AddDownTrack starts sending dt. An offerer renegotiates at once; an answerer places dt in a free
// slot at the client's next offer and reports false so the caller can ask the client for one.
func (t *Transport) AddDownTrack(dt *DownTrack) (placed bool, err error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return false, ErrClosed
	}
	if _, ok := t.attached[dt]; ok {
		t.mu.Unlock()
		return true, nil
	}
	if t.p.Role == RoleAnswerer {
		t.pending = append(t.pending, dt)
		t.mu.Unlock()
		return false, nil
	}
	// AddTrack reuses a transceiver freed by an earlier negotiation, or adds one.
	sender, err := t.pc.AddTrack(dt)
	if err != nil {
		t.mu.Unlock()
		return false, fmt.Errorf("add track: %w", err)
	}
	tr := transceiverOfSender(t.pc, sender)
	if tr == nil {
		t.mu.Unlock()
		return false, errors.New("add track: no transceiver for the sender")
	}
	t.attached[dt] = tr
	t.publishDownsLocked()
	t.mu.Unlock()
	dt.Attach(tr.Sender(), t.est.History(), t.out)
	t.p.Engine.stats.addDownTrack(dt)
	t.kickAllocation()
	t.Negotiate(false)
	return true, nil
}

// RemoveDownTrack stops sending dt and frees its slot. An offerer renegotiates.
func (t *Transport) RemoveDownTrack(dt *DownTrack) {
	t.mu.Lock()
	for i, p := range t.pending {
		if p == dt {
			t.pending = append(t.pending[:i], t.pending[i+1:]...)
			break
		}
	}
	tr, ok := t.attached[dt]
	delete(t.attached, dt)
	t.publishDownsLocked()
	if ok {
		t.p.Engine.stats.removeDownTrack(dt)
	}
	if !ok || t.closed {
		t.mu.Unlock()
		return
	}
	if s := tr.Sender(); s != nil {
		if err := t.pc.RemoveTrack(s); err != nil {
			t.log.Debug("remove track", "track", dt.ID(), "err", err)
		}
	}
	t.freedAt[tr] = t.round
	offerer := t.p.Role == RoleOfferer
	t.mu.Unlock()
	if offerer {
		t.Negotiate(false)
	}
}

// publishDownsLocked copies the attached downtracks for the RTCP fast path, which reads them
// without t.mu (copy on write). t.mu must be held.
func (t *Transport) publishDownsLocked() {
	ds := make([]*DownTrack, 0, len(t.attached))
	for dt := range t.attached {
		ds = append(ds, dt)
	}
	t.downs.Store(&ds)
}

// MissingSlots returns how many more audio and video receive slots the client must add so that every
// waiting downtrack fits (answerer). Slots freed since the client's last offer count as free only
// after the next one, when the client has seen them inactive.
func (t *Transport) MissingSlots() (audio, video int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	free := map[webrtc.RTPCodecType]int{}
	for _, tr := range t.pc.GetTransceivers() {
		if tr.Sender() != nil || !t.recvSlots[tr.Mid()] {
			continue
		}
		if d := tr.Direction(); d != webrtc.RTPTransceiverDirectionSendonly && d != webrtc.RTPTransceiverDirectionInactive {
			continue
		}
		if r, ok := t.freedAt[tr]; ok && r >= t.round {
			continue
		}
		free[tr.Kind()]++
	}
	for _, dt := range t.pending {
		if free[dt.Kind()] > 0 {
			free[dt.Kind()]--
			continue
		}
		if dt.Kind() == webrtc.RTPCodecTypeAudio {
			audio++
		} else {
			video++
		}
	}
	return audio, video
}

// Negotiate makes a new offer (RoleOfferer), or marks that one is needed once the current is answered.
func (t *Transport) Negotiate(iceRestart bool) {
	t.mu.Lock()
	if t.closed || t.p.Role != RoleOfferer {
		t.mu.Unlock()
		return
	}
	if iceRestart {
		t.iceRestart = true
	}
	if t.negotiating {
		t.again = true
		t.mu.Unlock()
		return
	}
	offer, id, mids, err := t.offerLocked()
	t.mu.Unlock()
	if err != nil {
		t.log.Warn("create offer", "err", err)
		return
	}
	if t.p.OnOffer != nil {
		t.p.OnOffer(offer, id, mids)
	}
}

func (t *Transport) offerLocked() (webrtc.SessionDescription, uint32, map[string]string, error) {
	if t.iceRestart && t.pc.SignalingState() != webrtc.SignalingStateStable {
		// A restart while an offer is outstanding: roll back so the new offer can be made.
		_ = t.pc.SetLocalDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeRollback})
	}
	opts := &webrtc.OfferOptions{ICERestart: t.iceRestart}
	t.iceRestart = false
	offer, err := t.pc.CreateOffer(opts)
	if err != nil {
		return offer, 0, nil, err
	}
	if err := t.pc.SetLocalDescription(offer); err != nil {
		return offer, 0, nil, err
	}
	t.offerID++
	t.negotiating = true
	t.again = false
	t.round++
	return *t.pc.LocalDescription(), t.offerID, t.midMapLocked(), nil
}

// HandleAnswer applies the client's answer to a server offer (RoleOfferer) and sends the next offer
// if changes piled up meanwhile.
func (t *Transport) HandleAnswer(answer webrtc.SessionDescription, id uint32) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	if t.p.Role != RoleOfferer || !t.negotiating {
		t.mu.Unlock()
		return errors.New("answer without an outstanding offer")
	}
	if id != 0 && id != t.offerID {
		t.mu.Unlock()
		return fmt.Errorf("answer for offer %d, but offer %d is outstanding", id, t.offerID)
	}
	answer.SDP = t.limitCandidatesLocked(answer.SDP)
	if err := t.pc.SetRemoteDescription(answer); err != nil {
		t.mu.Unlock()
		return fmt.Errorf("set remote answer: %w", err)
	}
	t.negotiating = false
	t.flushCandidatesLocked()
	if !t.again && !t.iceRestart {
		t.mu.Unlock()
		return nil
	}
	offer, oid, mids, err := t.offerLocked()
	t.mu.Unlock()
	if err != nil {
		return fmt.Errorf("renegotiate: %w", err)
	}
	if t.p.OnOffer != nil {
		t.p.OnOffer(offer, oid, mids)
	}
	return nil
}

// CreateDataChannel opens a server-side data channel.
func (t *Transport) CreateDataChannel(label string, init *webrtc.DataChannelInit) (*webrtc.DataChannel, error) {
	return t.pc.CreateDataChannel(label, init)
}

// ConnectionState is the PeerConnection's state.
func (t *Transport) ConnectionState() webrtc.PeerConnectionState { return t.pc.ConnectionState() }

// Close tears the connection down and detaches its downtracks.
func (t *Transport) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.routeLocked()
	lane := t.lane
	t.lane = nil
	dts := make([]*DownTrack, 0, len(t.attached)+len(t.pending))
	for dt := range t.attached {
		dts = append(dts, dt)
	}
	dts = append(dts, t.pending...)
	t.attached = map[*DownTrack]*webrtc.RTPTransceiver{}
	t.pending = nil
	t.mu.Unlock()
	for _, dt := range dts {
		dt.Close()
		t.p.Engine.stats.removeDownTrack(dt)
	}
	close(t.done)
	t.p.Engine.stats.conns.Add(-1)
	t.in.close()
	if err := t.pc.Close(); err != nil {
		t.log.Debug("close peer connection", "err", err)
	}
	inbounds.Delete(t.pc.SCTP().Transport())
	t.wg.Wait()
	t.p.Engine.stats.removeSender(t.out)
	lane.Release()
}

// Lane is the writer this connection's downtracks are written from (DownTrackParams.Lane). The
// first call takes the least loaded writer, so that only connections that carry forwarded media
// count in the balance; nil once closed.
func (t *Transport) Lane() *forwarder.Lane {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lane == nil && !t.closed {
		t.lane = t.p.Engine.writers.Lane()
		t.routeLocked()
	}
	return t.lane
}

// kickAllocation asks for an allocation pass now (the estimate or the set of tracks changed).
func (t *Transport) kickAllocation() {
	select {
	case t.allocKick <- struct{}{}:
	default:
	}
}

// allocLoop allocates bandwidth four times a second and when kicked, and sends the subscriber
// sender reports once a second.
func (t *Transport) allocLoop() {
	defer t.wg.Done()
	tick := tick.New(250 * time.Millisecond)
	defer tick.Stop()
	var lastReports time.Time
	for {
		select {
		case <-tick.C:
			tick.Next()
		case <-t.allocKick:
		case <-t.done:
			return
		}
		t.allocate()
		if now := time.Now(); now.Sub(lastReports) >= senderReportInterval {
			lastReports = now
			t.sendReports(now)
		}
	}
}

// senderReportInterval is how often each downtrack's sender report goes out (as pion's and
// browsers' senders do).
const senderReportInterval = time.Second

// reportsPerPacket bounds a compound RTCP packet of sender reports (28 bytes each) well under the MTU.
const reportsPerPacket = 30

// sendReports sends a sender report for every downtrack that has sent media.
func (t *Transport) sendReports(now time.Time) {
	t.mu.Lock()
	dts := make([]*DownTrack, 0, len(t.attached))
	for dt := range t.attached {
		dts = append(dts, dt)
	}
	t.mu.Unlock()
	var pkts []rtcp.Packet
	for _, dt := range dts {
		sr, ok := dt.SenderReport(now)
		if !ok {
			continue
		}
		if pkts = append(pkts, &sr); len(pkts) == reportsPerPacket {
			if t.pc.WriteRTCP(pkts) != nil {
				return // the connection is closing
			}
			pkts = nil
		}
	}
	if len(pkts) > 0 {
		_ = t.pc.WriteRTCP(pkts)
	}
}

// headroom is the share of the estimate allocation spends, leaving room for retransmissions.
const headroom = 0.92

// pauseAfter is how long a playing video track must not fit before it is paused. An estimate
// dips for a moment when a queue's delay spikes; a pause costs the viewer a frozen picture until
// a keyframe after the resume, which is worse than a second over the estimate on the smallest layer.
const pauseAfter = 2 * time.Second

// allocate spends the estimated bandwidth on this connection's video downtracks (audio first, never
// paused), and probes for more when subscribers want more than the estimate allows.
func (t *Transport) allocate() {
	t.mu.Lock()
	dts := make([]*DownTrack, 0, len(t.attached))
	for dt := range t.attached {
		dts = append(dts, dt)
	}
	t.mu.Unlock()
	if len(dts) == 0 {
		return
	}
	// A stable order: the allocator gives ties to the earlier track, and map order changes on
	// every call.
	slices.SortFunc(dts, func(a, b *DownTrack) int { return strings.Compare(a.ID(), b.ID()) })
	var audio uint64
	video := make([]*DownTrack, 0, len(dts))
	tracks := make([]alloc.Track, 0, len(dts))
	for _, dt := range dts {
		if dt.Kind() != webrtc.RTPCodecTypeVideo {
			if !dt.paused.Load() {
				audio += dt.Track().Bitrate()
			}
			continue
		}
		rates := dt.Track().Rates()
		if rates == ([MaxLayers][4]uint64{}) {
			// Not measured yet: leave the track unconstrained until it is.
			dt.SetAllocation(MaxLayers-1, 3)
			continue
		}
		desired := dt.DesiredLayer()
		if dt.paused.Load() {
			desired = LayerOff
		}
		video = append(video, dt)
		cur, _ := dt.Allocation()
		tracks = append(tracks, alloc.Track{Priority: dt.Priority(), Current: cur, MaxSpatial: desired, MaxTemporal: 3, Rates: rates})
	}
	est := t.est.Estimate()
	budget := uint64(float64(est) * headroom)
	if budget > audio {
		budget -= audio
	} else {
		budget = 0
	}
	decisions, used, deficit := alloc.Allocate(budget, tracks)
	now := time.Now()
	for i, d := range decisions {
		dt := video[i]
		if !d.Paused {
			dt.starvedSince = time.Time{}
		} else {
			if dt.starvedSince.IsZero() {
				dt.starvedSince = now
			}
			if cur, _ := dt.Allocation(); cur != LayerOff && now.Sub(dt.starvedSince) < pauseAfter {
				if s, tl, ok := alloc.Smallest(&tracks[i]); ok {
					decisions[i] = alloc.Decision{Spatial: s, Temporal: tl}
					d = decisions[i]
				}
			}
		}
		dt.SetAllocation(d.Spatial, d.Temporal)
	}
	if t.log.Enabled(context.Background(), slog.LevelDebug) {
		var b strings.Builder
		for i, d := range decisions {
			fmt.Fprintf(&b, "%s:%d/%d%s ", video[i].ID(), d.Spatial, d.Temporal, map[bool]string{true: "(paused)"}[d.Paused])
		}
		if line := b.String(); line != t.lastAlloc {
			t.lastAlloc = line
			t.log.Debug("allocation", "estimate", est, "loss", t.est.Loss(), "delay", t.est.DelaySignal().String(),
				"budget", budget, "used", used, "deficit", deficit, "tracks", line)
		}
	}
	if deficit > 0 && !t.est.Probing() {
		target := est + min(deficit, est) // at most double per probe
		if id, dur, ok := t.est.StartProbe(target, time.Now()); ok {
			sending := used + audio
			extra := uint64(0)
			if target > sending {
				extra = target - sending
			}
			t.wg.Add(1)
			go t.probe(id, dur, extra, video)
		}
	}
}

// probe sends extra bits/s of probe traffic for d, resending recent packets on the RTX streams.
func (t *Transport) probe(id uint16, d time.Duration, extra uint64, video []*DownTrack) {
	defer t.wg.Done()
	defer t.est.EndProbe(id)
	if extra == 0 || len(video) == 0 {
		return
	}
	const interval = 5 * time.Millisecond
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.Now().Add(d)
	var credit float64
	next := 0
	for time.Now().Before(end) {
		select {
		case <-tick.C:
		case <-t.done:
			return
		}
		credit += float64(extra) * interval.Seconds() / 8 // bytes
		for tries := 0; credit > 0 && tries < 2*len(video); tries++ {
			n := video[next%len(video)].SendProbe()
			next++
			if n > 0 {
				credit -= float64(n)
			}
		}
		if credit > 0 {
			credit = 0 // nothing to resend: do not burst later
		}
	}
}
