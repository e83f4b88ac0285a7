package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/tick"
	"github.com/hop-meet/hop/sfu"
	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/routing"
)

// publishedTrack is a track a participant publishes: what clients see and what the SFU forwards.
type publishedTrack struct {
	info     *livekit.TrackInfo // guarded by the owner's mu; replaced, never mutated, once shared
	track    *sfu.Track
	remoteID string // the client's track id (msid)
}

// pendingTrack is an AddTrackRequest whose media has not arrived yet.
type pendingTrack struct {
	req  *livekit.AddTrackRequest
	info *livekit.TrackInfo
}

// subscription is this participant receiving another's track.
type subscription struct {
	publisher *Participant
	trackSID  string
	dt        *sfu.DownTrack
	// settings is the last UpdateTrackSettings for this track.
	settings *livekit.UpdateTrackSettings
	notified bool
}

// Participant is one person (or SDK client) in a room.
type Participant struct {
	room       *Room
	log        *slog.Logger
	sid        string
	identity   string
	grants     *auth.Grants
	joinedAt   time.Time
	singlePC   bool
	clientInfo *livekit.ClientInfo
	join       *livekit.JoinRequest

	autoSubscribe  bool
	adaptiveStream bool

	mu            sync.Mutex
	name          string
	metadata      string
	attributes    map[string]string
	permission    *livekit.ParticipantPermission
	state         livekit.ParticipantInfo_State
	version       uint32
	published     map[string]*publishedTrack // by track SID
	byRemoteID    map[string]*publishedTrack // by the client's track id
	pending       []*pendingTrack
	subscriptions map[string]*subscription // by track SID
	disconnect    livekit.DisconnectReason
	resumeTimer   *time.Timer
	// subPerm is this publisher's SubscriptionPermission (nil: everyone may subscribe).
	subPerm *livekit.SubscriptionPermission
	// sectionsTimer batches MediaSectionsRequirement messages (single-connection mode).
	sectionsTimer *time.Timer

	sessMu sync.Mutex
	sess   *session

	// pub is the connection the client offers on: publishing, or everything in single-PC mode.
	// In two-connection mode it is made on first use (see ensurePublisher); pubMu serialises that.
	pub   atomic.Pointer[sfu.Transport]
	pubMu sync.Mutex
	sub   *sfu.Transport // server offers: subscribing (two-connection mode only)

	data dataChannels

	closed atomic.Bool
	// started is set once the client has its JoinResponse and the connections exist: from then on
	// tracks may be subscribed for it. (It is in the room, visible to others, a little earlier.)
	started  atomic.Bool
	done     chan struct{}
	lastPing atomic.Int64
	// pinged: the client sends LiveKit pings (the browser and mobile SDKs do; server-sdk-go does
	// not), so going quiet for pingTimeout means it is gone.
	pinged atomic.Bool
	// group counts the participant's goroutines: the manager's, waited for at shutdown only, never
	// by a participant (close runs on those goroutines too).
	group *sync.WaitGroup
	// dynacastKick wakes the dynacast loop when subscribers' demand changes.
	dynacastKick chan struct{}
}

func newParticipant(r *Room, jp *routing.JoinParams) (*Participant, error) {
	g := jp.Grants
	p := &Participant{
		room:           r,
		sid:            guid.New(guid.ParticipantPrefix),
		identity:       g.Identity,
		grants:         g,
		joinedAt:       time.Now(),
		singlePC:       jp.SinglePC,
		clientInfo:     jp.ClientInfo,
		join:           jp.Request,
		autoSubscribe:  jp.AutoSubscribe,
		adaptiveStream: jp.AdaptiveStream,
		name:           g.Name,
		metadata:       g.Metadata,
		attributes:     maps.Clone(g.Attributes),
		permission:     g.Permission(),
		state:          livekit.ParticipantInfo_JOINING,
		published:      map[string]*publishedTrack{},
		byRemoteID:     map[string]*publishedTrack{},
		subscriptions:  map[string]*subscription{},
		sess:           newSession(),
		group:          &r.m.wg,
		done:           make(chan struct{}),
		dynacastKick:   make(chan struct{}, 1),
	}
	if p.attributes == nil {
		p.attributes = map[string]string{}
	}
	if jp.Request != nil {
		if md := jp.Request.Metadata; md != "" {
			p.metadata = md
		}
		for k, v := range jp.Request.ParticipantAttributes {
			p.attributes[k] = v
		}
	}
	if lim := r.m.cfg.Limits.MaxMetadata; lim > 0 && len(p.metadata) > lim {
		return nil, &JoinError{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusBadRequest,
			Msg: fmt.Sprintf("metadata larger than %d bytes", lim)}
	}
	p.log = r.log.With("identity", p.identity, "participant", p.sid)
	p.lastPing.Store(time.Now().UnixNano())
	return p, nil
}

// SID is the participant's session id.
func (p *Participant) SID() string { return p.sid }

// Identity is the participant's identity.
func (p *Participant) Identity() string { return p.identity }

func (p *Participant) hidden() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.permission.Hidden
}

func (p *Participant) canSubscribe() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.permission.CanSubscribe
}

func (p *Participant) isPublisher() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.published) > 0
}

// Info is the participant as clients see it.
func (p *Participant) Info() *livekit.ParticipantInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.infoLocked()
}

func (p *Participant) infoLocked() *livekit.ParticipantInfo {
	tracks := make([]*livekit.TrackInfo, 0, len(p.published))
	for _, t := range p.published {
		tracks = append(tracks, t.info)
	}
	kind := livekit.ParticipantInfo_STANDARD
	if k, ok := livekit.ParticipantInfo_Kind_value[strings.ToUpper(p.grants.Kind)]; ok {
		kind = livekit.ParticipantInfo_Kind(k)
	}
	return &livekit.ParticipantInfo{
		Sid:              p.sid,
		Identity:         p.identity,
		State:            p.state,
		Tracks:           tracks,
		Metadata:         p.metadata,
		JoinedAt:         p.joinedAt.Unix(),
		JoinedAtMs:       p.joinedAt.UnixMilli(),
		Name:             p.name,
		Version:          p.version,
		Permission:       p.permission,
		IsPublisher:      len(p.published) > 0,
		Kind:             kind,
		Attributes:       maps.Clone(p.attributes),
		DisconnectReason: p.disconnect,
	}
}

// changed bumps the version and returns the new info, to broadcast after the lock is released.
func (p *Participant) changedLocked() *livekit.ParticipantInfo {
	p.version++
	return p.infoLocked()
}

// write queues a message for the client. A client too far behind is disconnected.
func (p *Participant) write(msg *livekit.SignalResponse) {
	p.sessMu.Lock()
	s := p.sess
	p.sessMu.Unlock()
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

func (p *Participant) sendParticipantUpdate(infos []*livekit.ParticipantInfo) {
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: infos}}})
}

func (p *Participant) serverInfo() *livekit.ServerInfo {
	return &livekit.ServerInfo{
		Edition:  livekit.ServerInfo_Standard,
		Version:  ServerVersion,
		Protocol: ProtocolVer,
		Region:   p.room.m.cfg.Region,
		NodeId:   p.room.m.cfg.NodeID,
	}
}

func (p *Participant) iceServers() []*livekit.ICEServer {
	if f := p.room.m.cfg.ICEServers; f != nil {
		return f(p.sid)
	}
	return nil
}

func (p *Participant) clientConfiguration() *livekit.ClientConfiguration {
	return &livekit.ClientConfiguration{ResumeConnection: livekit.ClientConfigSetting_ENABLED}
}

// start sets up the connections, answers the join and begins handling requests.
func (p *Participant) start() error {
	if err := p.setupTransports(); err != nil {
		return err
	}
	others := p.room.others(p)
	otherInfos := make([]*livekit.ParticipantInfo, 0, len(others))
	for _, q := range others {
		if !q.hidden() {
			otherInfos = append(otherInfos, q.Info())
		}
	}
	p.mu.Lock()
	p.state = livekit.ParticipantInfo_JOINED
	self := p.changedLocked()
	p.mu.Unlock()

	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Join{Join: &livekit.JoinResponse{
		Room:                 p.room.Info(),
		Participant:          self,
		OtherParticipants:    otherInfos,
		ServerVersion:        ServerVersion,
		IceServers:           p.iceServers(),
		SubscriberPrimary:    p.sub != nil && p.canSubscribe(),
		ClientConfiguration:  p.clientConfiguration(),
		ServerRegion:         p.room.m.cfg.Region,
		PingTimeout:          pingTimeout,
		PingInterval:         pingInterval,
		ServerInfo:           p.serverInfo(),
		EnabledPublishCodecs: enabledPublishCodecs(),
		FastPublish:          p.Info().GetPermission().GetCanPublish(),
	}}})
	p.room.broadcastParticipant(p, self)

	var joinOffer *livekit.SessionDescription
	if p.singlePC {
		joinOffer = p.join.GetPublisherOffer()
	}
	if p.sub != nil && p.canSubscribe() {
		// The subscriber connection is the primary one: offer it now, with the data channels,
		// so the client can finish connecting even before anything is subscribed.
		p.sub.Negotiate(false)
	}
	// Tracks published from here on are subscribed by the room; the ones published until now
	// (including by anyone who joined since others was read) are subscribed here. A track caught by
	// both is subscribed once.
	p.started.Store(true)
	if p.autoSubscribe && p.canSubscribe() {
		for _, q := range p.room.others(p) {
			for _, t := range q.publishedTracks() {
				p.subscribe(q, t)
			}
		}
	}
	p.group.Add(2)
	go p.upkeep()
	go func() {
		if joinOffer != nil {
			if d := answerDelay(p.clientInfo); d > 0 {
				time.Sleep(d)
			}
			p.handleOffer(joinOffer)
		}
		p.requestLoop(p.sess)
	}()
	return nil
}

// answerDelay works around a client race: server-sdk-go starts reading signal messages before it
// applies its own join offer, so an answer that arrives within microseconds of the JoinResponse
// (as it does over loopback) can be applied first and rejected, and the connection never forms.
// A short pause is invisible to people and closes the window.
func answerDelay(ci *livekit.ClientInfo) time.Duration {
	if ci.GetSdk() == livekit.ClientInfo_GO {
		return 50 * time.Millisecond
	}
	return 0
}

// answerSettle works around another server-sdk-go (pion) race, in single-connection mode: an
// SSRC that arrives before the client applies the answer declaring it is probed by pion's
// undeclared-stream handler, which then reads the same stream as the receiver the answer starts,
// and every other packet of the first ten is lost. Starting media on new slots a little after the
// answer closes the window; browsers demultiplex by MID and need no wait.
func answerSettle(ci *livekit.ClientInfo) time.Duration {
	if ci.GetSdk() == livekit.ClientInfo_GO {
		return 100 * time.Millisecond
	}
	return 0
}

func enabledPublishCodecs() []*livekit.Codec {
	return []*livekit.Codec{
		{Mime: "audio/opus"}, {Mime: "audio/red"},
		{Mime: "video/vp8"}, {Mime: "video/h264"}, {Mime: "video/vp9"}, {Mime: "video/av1"},
	}
}

func (p *Participant) publishedTracks() []*publishedTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*publishedTrack, 0, len(p.published))
	for _, t := range p.published {
		out = append(out, t)
	}
	return out
}

// requestLoop handles the client's requests one at a time, in order.
func (p *Participant) requestLoop(s *session) {
	defer p.group.Done()
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

// signalLost starts the resume window after the websocket went away without a leave.
func (p *Participant) signalLost(s *session) {
	p.sessMu.Lock()
	current := p.sess == s
	p.sessMu.Unlock()
	if !current || p.closed.Load() {
		return
	}
	if s.aborted.Load() {
		p.log.Info("client broke the signalling protocol; removing it", "why", *s.abortWhy.Load())
		p.close(livekit.DisconnectReason_STATE_MISMATCH, false)
		return
	}
	p.mu.Lock()
	active := p.state == livekit.ParticipantInfo_ACTIVE
	p.mu.Unlock()
	if !active {
		// The client gave up before its media connected: it cannot resume a session it never had.
		p.log.Info("signal connection lost before the participant became active; removing it")
		p.close(livekit.DisconnectReason_JOIN_FAILURE, false)
		return
	}
	window := p.room.m.cfg.Room.ResumeWindow
	if window <= 0 {
		window = resumeWindow
	}
	p.log.Info("signal connection lost; waiting for the client to resume", "window", window)
	p.mu.Lock()
	if p.resumeTimer != nil {
		p.resumeTimer.Stop()
	}
	p.resumeTimer = time.AfterFunc(window, func() {
		p.sessMu.Lock()
		stillLost := p.sess == s
		p.sessMu.Unlock()
		if stillLost {
			p.close(livekit.DisconnectReason_SIGNAL_CLOSE, true)
		}
	})
	p.mu.Unlock()
}

// upkeep runs the participant's periodic work on one goroutine (one stack and one timer per
// participant instead of one per task): dynacast every 500 ms or when kicked, liveness every second.
func (p *Participant) upkeep() {
	defer p.group.Done()
	tick := tick.New(500 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var checked time.Time
	dyn := map[string]*dynacastState{}
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
			tick.Next()
		case <-p.dynacastKick:
		}
		now := time.Now()
		if now.Sub(checked) >= time.Second {
			checked = now
			if !p.checkLiveness(start, now) {
				return
			}
		}
		p.dynacast(dyn, now)
	}
}

// checkLiveness disconnects a client that stopped pinging or never connected its media; it
// reports false when the participant was closed.
func (p *Participant) checkLiveness(start, now time.Time) bool {
	p.mu.Lock()
	state := p.state
	p.mu.Unlock()
	if state != livekit.ParticipantInfo_ACTIVE && now.Sub(start) > connectTimeout {
		p.log.Info("media connection not established in time")
		p.close(livekit.DisconnectReason_JOIN_FAILURE, true)
		return false
	}
	// A client that never pings is watched at the websocket level instead (see signaling.pump).
	if last := time.Unix(0, p.lastPing.Load()); p.pinged.Load() && now.Sub(last) > pingTimeout*time.Second {
		p.sessMu.Lock()
		s := p.sess
		p.sessMu.Unlock()
		select {
		case <-s.closed():
			// already in the resume window
		default:
			p.log.Info("client stopped pinging; closing its signal connection")
			s.end()
		}
	}
	return true
}

// resume attaches a new signal connection after a brief network loss.
func (p *Participant) resume(jp *routing.JoinParams) (routing.Session, error) {
	if p.closed.Load() {
		return nil, &JoinError{Reason: livekit.DisconnectReason_STATE_MISMATCH, Status: http.StatusNotFound, Msg: "participant already left"}
	}
	ns := newSession()
	p.sessMu.Lock()
	old := p.sess
	p.sess = ns
	p.sessMu.Unlock()
	old.end()
	p.mu.Lock()
	if p.resumeTimer != nil {
		p.resumeTimer.Stop()
		p.resumeTimer = nil
	}
	p.mu.Unlock()
	p.lastPing.Store(time.Now().UnixNano())
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Reconnect{Reconnect: &livekit.ReconnectResponse{
		IceServers:          p.iceServers(),
		ClientConfiguration: p.clientConfiguration(),
		ServerInfo:          p.serverInfo(),
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
	if p.sub != nil {
		// The subscriber side restarts ICE from the server.
		p.sub.Negotiate(true)
	}
	p.group.Add(1)
	go p.requestLoop(ns)
	p.log.Info("participant resumed", "reason", jp.ReconnectReason.String())
	return ns, nil
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
		p.setTrackMuted(m.Mute.Sid, m.Mute.Muted)
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
		p.lastPing.Store(time.Now().UnixNano())
		p.pinged.Store(true)
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Pong{Pong: time.Now().UnixMilli()}})
	case *livekit.SignalRequest_PingReq:
		p.lastPing.Store(time.Now().UnixNano())
		p.pinged.Store(true)
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_PongResp{PongResp: &livekit.Pong{
			LastPingTimestamp: m.PingReq.Timestamp, Timestamp: time.Now().UnixMilli()}}})
	case *livekit.SignalRequest_UpdateMetadata:
		p.handleUpdateMetadata(m.UpdateMetadata)
	case *livekit.SignalRequest_UpdateAudioTrack:
		p.updateTrackInfo(m.UpdateAudioTrack.TrackSid, func(ti *livekit.TrackInfo) {
			ti.AudioFeatures = m.UpdateAudioTrack.Features
		})
	case *livekit.SignalRequest_UpdateVideoTrack:
		p.updateTrackInfo(m.UpdateVideoTrack.TrackSid, func(ti *livekit.TrackInfo) {
			ti.Width, ti.Height = m.UpdateVideoTrack.Width, m.UpdateVideoTrack.Height
		})
	case *livekit.SignalRequest_UpdateLayers, *livekit.SignalRequest_Simulate:
		// deprecated / test-only requests: nothing to do
	default:
		p.log.Debug("unsupported signal request", "type", fmt.Sprintf("%T", m))
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
	answer, mids, missing, err := pub.HandleOffer(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sd.Sdp})
	if err != nil {
		p.log.Info("bad offer", "err", err)
		p.rejectSignal("invalid offer: " + err.Error())
		return
	}
	resp := &livekit.SessionDescription{Type: "answer", Sdp: answer.SDP, Id: sd.Id}
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
	if sd == nil || sd.Sdp == "" || p.sub == nil {
		p.rejectSignal("unexpected answer")
		return
	}
	if err := p.sub.HandleAnswer(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sd.Sdp}, sd.Id); err != nil {
		p.log.Info("bad answer", "err", err)
		p.rejectSignal("invalid answer: " + err.Error())
	}
}

// rejectSignal ends the session of a client that broke the negotiation, telling it why. A client
// that sends invalid SDP cannot have a working media connection; the others are unaffected.
func (p *Participant) rejectSignal(why string) {
	p.log.Info("closing participant after signalling error", "why", why)
	p.close(livekit.DisconnectReason_STATE_MISMATCH, true)
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
	tr := p.sub
	if t.Target != livekit.SignalTarget_SUBSCRIBER || tr == nil {
		if tr = p.publisher(); tr == nil {
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

// applyDetailsLocked sets metadata and name (when not empty) and attributes (an empty value
// removes one), refusing the change if it exceeds the configured metadata limit. p.mu is held.
func (p *Participant) applyDetailsLocked(metadata, name string, attrs map[string]string) error {
	size := len(metadata) + len(name)
	for k, v := range attrs {
		size += len(k) + len(v)
	}
	if lim := p.room.m.cfg.Limits.MaxMetadata; lim > 0 && size > lim {
		return fmt.Errorf("metadata larger than %d bytes", lim)
	}
	if metadata != "" {
		p.metadata = metadata
	}
	if name != "" {
		p.name = name
	}
	for k, v := range attrs {
		if v == "" {
			delete(p.attributes, k)
		} else {
			p.attributes[k] = v
		}
	}
	return nil
}

func (p *Participant) handleUpdateMetadata(u *livekit.UpdateParticipantMetadata) {
	respond := func(reason livekit.RequestResponse_Reason, msg string) {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			RequestId: u.RequestId, Reason: reason, Message: msg,
			Request: &livekit.RequestResponse_UpdateMetadata{UpdateMetadata: u}}}})
	}
	p.mu.Lock()
	if !p.permission.CanUpdateMetadata {
		p.mu.Unlock()
		respond(livekit.RequestResponse_NOT_ALLOWED, "participant is not allowed to update its own metadata")
		return
	}
	if err := p.applyDetailsLocked(u.Metadata, u.Name, u.Attributes); err != nil {
		p.mu.Unlock()
		respond(livekit.RequestResponse_LIMIT_EXCEEDED, err.Error())
		return
	}
	info := p.changedLocked()
	p.mu.Unlock()
	respond(livekit.RequestResponse_OK, "")
	p.sendParticipantUpdate([]*livekit.ParticipantInfo{info})
	p.room.broadcastParticipant(p, info)
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

// close ends the participant: it leaves the room, its tracks are unpublished and its connections
// closed. notify sends the client a LeaveRequest with the reason first.
func (p *Participant) close(reason livekit.DisconnectReason, notify bool) {
	if p.closed.Swap(true) {
		return
	}
	p.mu.Lock()
	p.disconnect = reason
	p.state = livekit.ParticipantInfo_DISCONNECTED
	if p.resumeTimer != nil {
		p.resumeTimer.Stop()
	}
	info := p.changedLocked()
	pubs := make([]*publishedTrack, 0, len(p.published))
	for _, t := range p.published {
		pubs = append(pubs, t)
	}
	subs := make([]*subscription, 0, len(p.subscriptions))
	for _, s := range p.subscriptions {
		subs = append(subs, s)
	}
	p.subscriptions = map[string]*subscription{}
	p.mu.Unlock()

	close(p.done)
	if notify {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
			Reason: reason, Action: livekit.LeaveRequest_DISCONNECT}}})
	}
	p.sessMu.Lock()
	s := p.sess
	p.sessMu.Unlock()
	s.end()

	p.room.removed(p)
	p.room.broadcastParticipant(p, info)
	for _, t := range pubs {
		t.track.Close()
	}
	for _, sb := range subs {
		sb.dt.Close()
	}
	p.data.close()
	if p.sub != nil {
		p.sub.Close()
	}
	p.pubMu.Lock() // after closed is set: no publisher connection is made from here on
	pub := p.pub.Load()
	p.pubMu.Unlock()
	if pub != nil {
		pub.Close()
	}
	// The participant's own goroutines end on done; close may run on one of them, so it never
	// waits for them (the manager does, at shutdown).
	p.log.Info("participant left", "reason", reason.String())
}

// errNotAllowed is returned for requests the participant's grant forbids.
var errNotAllowed = errors.New("not allowed")

// errParticipantClosed is returned for work asked of a participant that has left.
var errParticipantClosed = errors.New("participant closed")
