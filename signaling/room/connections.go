package room

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"
)

// connections are the participant's PeerConnections: one the client offers on (publishing, or
// everything in single-connection mode) and, in two-connection mode, one the node offers on.
type connections struct {
	// pub is made on first use in two-connection mode (see ensurePublisher); pubMu serialises that.
	pubMu  sync.Mutex
	pub    atomic.Pointer[connRef]
	sub    atomic.Pointer[connRef]
	closed bool // guarded by pubMu: no connection is made once set
}

type connRef struct{ Connection }

func (c *connections) publisher() Connection {
	if r := c.pub.Load(); r != nil {
		return r.Connection
	}
	return nil
}

func (c *connections) subscriber() Connection {
	if r := c.sub.Load(); r != nil {
		return r.Connection
	}
	return nil
}

// downstream is the connection the participant receives media on.
func (c *connections) downstream() Connection {
	if s := c.subscriber(); s != nil {
		return s
	}
	return c.publisher()
}

func (c *connections) close() {
	c.pubMu.Lock()
	c.closed = true
	c.pubMu.Unlock()
	if s := c.subscriber(); s != nil {
		s.Close()
	}
	if p := c.publisher(); p != nil {
		p.Close()
	}
}

// setupConnections makes the participant's PeerConnections: one in single-connection mode, a
// publisher and a subscriber connection otherwise.
func (p *Participant) setupConnections() error {
	if p.singlePC {
		_, err := p.ensurePublisher()
		return err
	}
	sub, err := p.env.media.NewConnection(ConnectionParams{
		Offerer: true,
		Logger:  p.log.With("pc", "subscriber"),
		OnICECandidate: func(c *webrtc.ICECandidateInit) {
			p.sendTrickle(c, livekit.SignalTarget_SUBSCRIBER)
		},
		OnOffer: func(sdp string, id uint32) {
			p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Offer{Offer: &livekit.SessionDescription{
				Type: "offer", Sdp: sdp, Id: id}}})
		},
		OnStateChange: func(s webrtc.PeerConnectionState) { p.onConnectionState(s, p.canSubscribe()) },
	})
	if err != nil {
		return fmt.Errorf("subscriber connection: %w", err)
	}
	p.conns.sub.Store(&connRef{sub})
	// Server-to-client data rides on channels the server opens on the subscriber connection.
	rel, err := sub.CreateDataChannel(reliableLabel, false)
	if err != nil {
		return fmt.Errorf("reliable data channel: %w", err)
	}
	lossy, err := sub.CreateDataChannel(lossyLabel, true)
	if err != nil {
		return fmt.Errorf("lossy data channel: %w", err)
	}
	p.data.setDown(rel, lossy)
	p.attachDataReader(rel, true)
	p.attachDataReader(lossy, true)
	return nil
}

// ensurePublisher returns the connection the client offers on, making it on first use. A
// subscribe-only client on /rtc never offers on it, and an idle PeerConnection still costs
// goroutines, timers and a bandwidth estimator per participant.
func (p *Participant) ensurePublisher() (Connection, error) {
	p.conns.pubMu.Lock()
	defer p.conns.pubMu.Unlock()
	if c := p.conns.publisher(); c != nil {
		return c, nil
	}
	if p.conns.closed {
		return nil, errParticipantClosed
	}
	c, err := p.env.media.NewConnection(ConnectionParams{
		Logger: p.log.With("pc", "publisher"),
		OnICECandidate: func(c *webrtc.ICECandidateInit) {
			p.sendTrickle(c, livekit.SignalTarget_PUBLISHER)
		},
		OnTrack:       p.onTrack,
		OnDataChannel: p.onDataChannel,
		OnStateChange: func(s webrtc.PeerConnectionState) { p.onConnectionState(s, !p.singlePC && p.canSubscribe()) },
		AnswerSettle:  answerSettle(p.clientInfo),
	})
	if err != nil {
		return nil, fmt.Errorf("publisher connection: %w", err)
	}
	p.conns.pub.Store(&connRef{c})
	return c, nil
}

// onConnectionState marks the participant active once its primary connection is up.
func (p *Participant) onConnectionState(s webrtc.PeerConnectionState, primary bool) {
	switch s {
	case webrtc.PeerConnectionStateConnected:
		if !primary && !p.singlePC && p.canSubscribe() {
			return
		}
		p.mu.Lock()
		if p.state == livekit.ParticipantInfo_ACTIVE || p.state == livekit.ParticipantInfo_DISCONNECTED {
			p.mu.Unlock()
			return
		}
		p.state = livekit.ParticipantInfo_ACTIVE
		info := p.changedLocked()
		p.mu.Unlock()
		p.log.Info("participant active")
		p.sendParticipantUpdate([]*livekit.ParticipantInfo{info})
		p.room.broadcastParticipant(p, info)
	case webrtc.PeerConnectionStateFailed:
		p.log.Info("media connection failed")
		// The client restarts ICE (resume) or rejoins; if it does neither, the watchdog and the
		// signal timeout clean up.
	}
}

// handleOffer answers the client's offer on its publishing (or only) connection.
func (p *Participant) handleOffer(sd *livekit.SessionDescription) {
	if sd == nil || sd.Sdp == "" {
		p.rejectSignal("offer without SDP")
		return
	}
	pub, err := p.ensurePublisher()
	if err != nil {
		p.log.Info("no publisher connection", "err", err)
		return
	}
	answer, mids, missing, err := pub.HandleOffer(sd.Sdp)
	if err != nil {
		p.log.Info("bad offer", "err", err)
		p.rejectSignal("invalid offer: " + err.Error())
		return
	}
	resp := &livekit.SessionDescription{Type: "answer", Sdp: answer, Id: sd.Id}
	if p.singlePC {
		resp.MidToTrackId = mids
	}
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Answer{Answer: resp}})
	if missing[0] > 0 || missing[1] > 0 {
		p.requestMediaSections(missing[0], missing[1])
	}
}

// requestMediaSections asks a single-connection client for more receive slots.
func (p *Participant) requestMediaSections(audio, video int) {
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_MediaSectionsRequirement{
		MediaSectionsRequirement: &livekit.MediaSectionsRequirement{NumAudios: uint32(audio), NumVideos: uint32(video)}}})
}

func (p *Participant) handleAnswer(sd *livekit.SessionDescription) {
	sub := p.conns.subscriber()
	if sd == nil || sd.Sdp == "" || sub == nil {
		p.rejectSignal("unexpected answer")
		return
	}
	if err := sub.HandleAnswer(sd.Sdp, sd.Id); err != nil {
		p.log.Info("bad answer", "err", err)
		p.rejectSignal("invalid answer: " + err.Error())
	}
}

func (p *Participant) handleTrickle(t *livekit.TrickleRequest) {
	if t.CandidateInit == "" {
		return
	}
	var ci webrtc.ICECandidateInit
	if err := json.Unmarshal([]byte(t.CandidateInit), &ci); err != nil {
		p.log.Debug("malformed ice candidate", "err", err)
		return
	}
	if ci.Candidate == "" {
		return // end-of-candidates
	}
	// In single-connection mode every candidate belongs to the one connection, whatever its target.
	// A publisher candidate follows the client's offer on the same ordered socket, so the
	// connection exists by then; one without it is dropped rather than making a connection.
	tr := p.conns.subscriber()
	if t.Target != livekit.SignalTarget_SUBSCRIBER || tr == nil {
		if tr = p.conns.publisher(); tr == nil {
			p.log.Debug("publisher candidate before any offer; dropped")
			return
		}
	}
	if err := tr.AddICECandidate(ci); err != nil {
		p.log.Debug("ice candidate rejected", "err", err)
	}
}

func (p *Participant) sendTrickle(c *webrtc.ICECandidateInit, target livekit.SignalTarget) {
	if c == nil {
		return
	}
	b, err := json.Marshal(c)
	if err != nil {
		return
	}
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Trickle{Trickle: &livekit.TrickleRequest{
		CandidateInit: string(b), Target: target}}})
}

// downstreamLoss is the loss the participant reports on what Hop sends it.
func (p *Participant) downstreamLoss() float64 {
	if c := p.conns.downstream(); c != nil {
		return c.Loss()
	}
	return 0
}
