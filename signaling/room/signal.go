package room

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/signaling/routing"
)

// signalLink is the participant's current signal session; a resume replaces it.
type signalLink struct {
	mu   sync.Mutex
	sess *session
}

func (l *signalLink) current() *session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sess
}

func (l *signalLink) isCurrent(s *session) bool { return l.current() == s }

func (l *signalLink) replace(s *session) (old *session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old, l.sess = l.sess, s
	return old
}

// write queues a message for the client. A client too far behind is disconnected.
func (p *Participant) write(msg *livekit.SignalResponse) {
	s := p.signal.current()
	if s == nil {
		return
	}
	if !s.write(msg) {
		select {
		case <-s.closed():
		default:
			p.log.Warn("client too slow reading signal messages; dropping its connection")
			s.end()
		}
	}
}

// requestLoop handles the client's requests one at a time, in order.
func (p *Participant) requestLoop(s *session) {
	defer p.env.group.Done()
	for {
		select {
		case req := <-s.reqs:
			p.handleRequest(req)
		case <-s.closed():
			// Handle what arrived before the close, then wait for a resume or give up.
		drain:
			for {
				select {
				case req := <-s.reqs:
					p.handleRequest(req)
				default:
					break drain
				}
			}
			p.signalLost(s)
			return
		case <-p.done:
			return
		}
	}
}

// handleRequest dispatches one client request.
func (p *Participant) handleRequest(req *livekit.SignalRequest) {
	switch m := req.Message.(type) {
	case *livekit.SignalRequest_Offer:
		p.handleOffer(m.Offer)
	case *livekit.SignalRequest_Answer:
		p.handleAnswer(m.Answer)
	case *livekit.SignalRequest_Trickle:
		p.handleTrickle(m.Trickle)
	case *livekit.SignalRequest_AddTrack:
		p.handleAddTrack(m.AddTrack)
	case *livekit.SignalRequest_Mute:
		p.clientMute(m.Mute.Sid, m.Mute.Muted)
	case *livekit.SignalRequest_Subscription:
		p.handleSubscription(m.Subscription)
	case *livekit.SignalRequest_TrackSetting:
		p.handleTrackSettings(m.TrackSetting)
	case *livekit.SignalRequest_Leave:
		p.log.Info("participant leaves", "reason", m.Leave.Reason.String())
		p.close(livekit.DisconnectReason_CLIENT_INITIATED, false)
	case *livekit.SignalRequest_SubscriptionPermission:
		p.handleSubscriptionPermission(m.SubscriptionPermission)
	case *livekit.SignalRequest_SyncState:
		p.handleSyncState(m.SyncState)
	case *livekit.SignalRequest_Ping:
		p.live.pingedNow()
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Pong{Pong: time.Now().UnixMilli()}})
	case *livekit.SignalRequest_PingReq:
		p.live.pingedNow()
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_PongResp{PongResp: &livekit.Pong{
			LastPingTimestamp: m.PingReq.Timestamp, Timestamp: time.Now().UnixMilli()}}})
	case *livekit.SignalRequest_UpdateMetadata:
		p.handleUpdateMetadata(m.UpdateMetadata)
	case *livekit.SignalRequest_UpdateAudioTrack:
		features := m.UpdateAudioTrack.Features
		p.updateTrackInfo(m.UpdateAudioTrack.TrackSid, func(ti *livekit.TrackInfo) { ti.AudioFeatures = features })
	case *livekit.SignalRequest_UpdateVideoTrack:
		w, h := m.UpdateVideoTrack.Width, m.UpdateVideoTrack.Height
		p.updateTrackInfo(m.UpdateVideoTrack.TrackSid, func(ti *livekit.TrackInfo) { ti.Width, ti.Height = w, h })
	case *livekit.SignalRequest_UpdateLayers, *livekit.SignalRequest_Simulate:
		// deprecated / test-only requests: nothing to do
	default:
		p.log.Debug("unsupported signal request", "type", fmt.Sprintf("%T", m))
	}
}

// rejectSignal ends the session of a client that broke the negotiation, telling it why. A client
// that sends invalid SDP cannot have a working media connection; the others are unaffected.
func (p *Participant) rejectSignal(why string) {
	p.log.Info("closing participant after signalling error", "why", why)
	p.close(livekit.DisconnectReason_STATE_MISMATCH, true)
}

func (p *Participant) handleSyncState(s *livekit.SyncState) {
	// After a resume the client re-sends its subscriptions; honour explicit unsubscribes.
	if sub := s.GetSubscription(); sub != nil && !sub.Subscribe {
		p.handleSubscription(sub)
	}
	for _, sid := range s.TrackSidsDisabled {
		p.handleTrackSettings(&livekit.UpdateTrackSettings{TrackSids: []string{sid}, Disabled: true})
	}
}

// resume attaches a new signal connection after a brief network loss.
func (p *Participant) resume(jp *routing.JoinParams) (routing.Session, error) {
	if p.closed.Load() {
		return nil, &JoinError{Reason: livekit.DisconnectReason_STATE_MISMATCH, Status: http.StatusNotFound, Msg: "participant already left"}
	}
	ns := newSession()
	p.signal.replace(ns).end()
	p.live.stopResumeTimer()
	p.live.pingedAt(time.Now())
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Reconnect{Reconnect: &livekit.ReconnectResponse{
		IceServers:          p.env.iceServersFor(p.sid),
		ClientConfiguration: p.clientConfiguration(),
		ServerInfo:          p.env.serverInfo(),
		LastMessageSeq:      p.data.lastSequence(),
	}}})
	// Bring the client up to date with what happened while it was away.
	var infos []*livekit.ParticipantInfo
	for _, q := range p.room.others(p) {
		if !q.hidden() {
			infos = append(infos, q.Info())
		}
	}
	infos = append(infos, p.Info())
	p.sendParticipantUpdate(infos)
	if sub := p.conns.subscriber(); sub != nil {
		// The subscriber side restarts ICE from the server.
		sub.Negotiate(true)
	}
	p.env.group.Add(1)
	go p.requestLoop(ns)
	if p.closed.Load() {
		// Closed while resuming: the new session must not outlive it.
		ns.end()
	}
	p.log.Info("participant resumed", "reason", jp.ReconnectReason.String())
	return ns, nil
}
