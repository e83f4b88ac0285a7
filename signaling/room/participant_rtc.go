package room

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/sfu"
	"github.com/hop-meet/hop/signaling/auth"
)

// setupTransports makes the participant's PeerConnections: one in single-connection mode, a
// publisher and a subscriber connection otherwise.
func (p *Participant) setupTransports() error {
	engine := p.room.m.engine
	if p.singlePC {
		_, err := p.ensurePublisher()
		return err
	}
	var err error
	p.sub, err = sfu.NewTransport(sfu.TransportParams{
		Engine: engine,
		Role:   sfu.RoleOfferer,
		Logger: p.log.With("pc", "subscriber"),
		OnICECandidate: func(c *webrtc.ICECandidateInit) {
			p.sendTrickle(c, livekit.SignalTarget_SUBSCRIBER)
		},
		OnOffer: func(offer webrtc.SessionDescription, id uint32, _ map[string]string) {
			p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Offer{Offer: &livekit.SessionDescription{
				Type: "offer", Sdp: offer.SDP, Id: id}}})
		},
		OnStateChange: func(s webrtc.PeerConnectionState) { p.onConnectionState(s, p.canSubscribe()) },
	})
	if err != nil {
		return fmt.Errorf("subscriber connection: %w", err)
	}
	// Server-to-client data rides on channels the server opens on the subscriber connection.
	ordered := false
	var zero uint16
	rel, err := p.sub.CreateDataChannel(reliableLabel, &webrtc.DataChannelInit{})
	if err != nil {
		return fmt.Errorf("reliable data channel: %w", err)
	}
	lossy, err := p.sub.CreateDataChannel(lossyLabel, &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &zero})
	if err != nil {
		return fmt.Errorf("lossy data channel: %w", err)
	}
	p.data.setDown(rel, lossy)
	p.attachDataReader(rel)
	p.attachDataReader(lossy)
	return nil
}

// publisher returns the connection the client offers on, nil while a two-connection client has
// not needed one.
func (p *Participant) publisher() *sfu.Transport { return p.pub.Load() }

// ensurePublisher returns the connection the client offers on, making it on first use. A
// subscribe-only client on /rtc never offers on it, and an idle PeerConnection still costs
// goroutines, timers and a bandwidth estimator per participant.
func (p *Participant) ensurePublisher() (*sfu.Transport, error) {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	if t := p.pub.Load(); t != nil {
		return t, nil
	}
	if p.closed.Load() {
		return nil, errParticipantClosed
	}
	t, err := sfu.NewTransport(sfu.TransportParams{
		Engine: p.room.m.engine,
		Role:   sfu.RoleAnswerer,
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
	p.pub.Store(t)
	return t, nil
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

// trackSID makes a LiveKit-style track id: TR_ then kind and source letters, then random.
func trackSID(kind livekit.TrackType, source livekit.TrackSource) string {
	k := "A"
	if kind == livekit.TrackType_VIDEO {
		k = "V"
	}
	s := "U"
	switch source {
	case livekit.TrackSource_CAMERA:
		s = "C"
	case livekit.TrackSource_MICROPHONE:
		s = "M"
	case livekit.TrackSource_SCREEN_SHARE:
		s = "S"
	case livekit.TrackSource_SCREEN_SHARE_AUDIO:
		s = "s"
	}
	return guid.New(guid.TrackPrefix + k + s)
}

func normaliseMime(kind livekit.TrackType, codec string) string {
	c := strings.ToLower(codec)
	if c == "" || strings.Contains(c, "/") {
		return c
	}
	if kind == livekit.TrackType_AUDIO {
		return "audio/" + c
	}
	return "video/" + c
}

func (p *Participant) handleAddTrack(req *livekit.AddTrackRequest) {
	p.mu.Lock()
	allowed := auth.CanPublishSource(p.permission, req.Source)
	if !allowed {
		p.mu.Unlock()
		p.log.Info("publish refused: no permission", "source", req.Source.String())
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			Reason: livekit.RequestResponse_NOT_ALLOWED, Message: "not allowed to publish " + req.Source.String(),
			Request: &livekit.RequestResponse_AddTrack{AddTrack: req}}}})
		return
	}
	if req.Type != livekit.TrackType_AUDIO && req.Type != livekit.TrackType_VIDEO {
		p.mu.Unlock()
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			Reason: livekit.RequestResponse_UNSUPPORTED_TYPE, Message: "unsupported track type",
			Request: &livekit.RequestResponse_AddTrack{AddTrack: req}}}})
		return
	}
	for _, pt := range p.pending {
		if pt.req.Cid == req.Cid {
			info := pt.info
			p.mu.Unlock()
			p.write(trackPublished(req.Cid, info))
			return
		}
	}
	if len(p.pending) >= 32 {
		p.mu.Unlock()
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			Reason: livekit.RequestResponse_LIMIT_EXCEEDED, Message: "too many tracks awaiting media",
			Request: &livekit.RequestResponse_AddTrack{AddTrack: req}}}})
		return
	}
	info := &livekit.TrackInfo{
		Sid:               trackSID(req.Type, req.Source),
		Type:              req.Type,
		Name:              req.Name,
		Muted:             req.Muted,
		Width:             req.Width,
		Height:            req.Height,
		DisableDtx:        req.DisableDtx,
		Source:            req.Source,
		Layers:            sortedLayers(req.Layers),
		Stereo:            req.Stereo,
		DisableRed:        req.DisableRed,
		Encryption:        req.Encryption,
		Stream:            req.Stream,
		AudioFeatures:     req.AudioFeatures,
		BackupCodecPolicy: req.BackupCodecPolicy,
	}
	if info.Stream == "" {
		info.Stream = "camera"
		if req.Source == livekit.TrackSource_SCREEN_SHARE || req.Source == livekit.TrackSource_SCREEN_SHARE_AUDIO {
			info.Stream = "screen"
		}
	}
	for _, sc := range req.SimulcastCodecs {
		layers := sc.Layers
		if len(layers) == 0 {
			layers = info.Layers
		}
		info.Codecs = append(info.Codecs, &livekit.SimulcastCodecInfo{
			MimeType: normaliseMime(req.Type, sc.Codec), Cid: sc.Cid, Layers: sortedLayers(layers)})
	}
	if len(info.Codecs) == 0 {
		info.Codecs = []*livekit.SimulcastCodecInfo{{Cid: req.Cid, Layers: info.Layers}}
	}
	svc := len(info.Codecs) > 0 && (strings.HasSuffix(info.Codecs[0].MimeType, "vp9") || strings.HasSuffix(info.Codecs[0].MimeType, "av1"))
	info.Simulcast = req.Type == livekit.TrackType_VIDEO && len(req.Layers) > 1 && !svc
	p.pending = append(p.pending, &pendingTrack{req: req, info: info})
	p.mu.Unlock()
	if req.Type == livekit.TrackType_AUDIO && req.DisableRed {
		if pub, err := p.ensurePublisher(); err == nil {
			pub.PreferRED(false)
		}
	}
	p.write(trackPublished(req.Cid, info))
}

func trackPublished(cid string, info *livekit.TrackInfo) *livekit.SignalResponse {
	return &livekit.SignalResponse{Message: &livekit.SignalResponse_TrackPublished{TrackPublished: &livekit.TrackPublishedResponse{
		Cid: cid, Track: info}}}
}

// sortedLayers copies layers ordered LOW, MEDIUM, HIGH.
func sortedLayers(in []*livekit.VideoLayer) []*livekit.VideoLayer {
	out := make([]*livekit.VideoLayer, 0, len(in))
	for q := livekit.VideoQuality_LOW; q <= livekit.VideoQuality_HIGH; q++ {
		for _, l := range in {
			if l.Quality == q {
				out = append(out, l)
			}
		}
	}
	return out
}

// onTrack matches an incoming media stream (or simulcast layer) to its AddTrackRequest and publishes it.
func (p *Participant) onTrack(remote *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
	if p.closed.Load() {
		return
	}
	key := remote.ID()
	p.mu.Lock()
	if pt, ok := p.byRemoteID[key]; ok {
		// Another simulcast layer of a track already published.
		p.mu.Unlock()
		pt.track.AddReceiver(remote, rr, p.layerOf(pt, remote.RID()))
		return
	}
	var match *pendingTrack
	idx := -1
	for i, pt := range p.pending {
		if pt.req.Cid == key || pt.info.Sid == key {
			match, idx = pt, i
			break
		}
		for _, c := range pt.info.Codecs {
			if c.Cid == key {
				match, idx = pt, i
			}
		}
		if match != nil {
			break
		}
	}
	if match == nil {
		kind := livekit.TrackType_AUDIO
		if remote.Kind() == webrtc.RTPCodecTypeVideo {
			kind = livekit.TrackType_VIDEO
		}
		for i, pt := range p.pending {
			if pt.info.Type == kind {
				match, idx = pt, i
				break
			}
		}
	}
	if match == nil {
		p.mu.Unlock()
		p.log.Warn("media arrived for a track that was never announced; ignoring", "trackID", key, "kind", remote.Kind().String())
		return
	}
	p.pending = append(p.pending[:idx], p.pending[idx+1:]...)
	info := match.info
	codec := remote.Codec()
	info.MimeType = strings.ToLower(codec.MimeType)
	if len(info.Codecs) > 0 {
		info.Codecs[0].MimeType = info.MimeType
	}
	if tr := transceiverOf(p.publisher().PeerConnection(), rr); tr != nil {
		info.Mid = tr.Mid()
	}
	pt := &publishedTrack{info: info, remoteID: key}
	var once sync.Once
	pt.track = sfu.NewTrack(sfu.TrackParams{
		ID:              info.Sid,
		PublisherID:     p.sid,
		Kind:            remote.Kind(),
		PLIThrottle:     p.room.m.engine.PLIThrottle(),
		WriteRTCP:       p.publisher().WriteRTCP,
		Logger:          p.log,
		OnEnded:         func() { once.Do(func() { p.unpublish(info.Sid, false) }) },
		OnDemandChanged: p.demandChanged,
		Stats:           p.room.m.engine.Stats(),
		Writers:         p.room.m.engine.Writers(),
	})
	p.published[info.Sid] = pt
	p.byRemoteID[key] = pt
	self := p.changedLocked()
	p.mu.Unlock()

	pt.track.AddReceiver(remote, rr, p.layerOf(pt, remote.RID()))
	p.log.Info("track published", "track", info.Sid, "kind", remote.Kind().String(), "codec", codec.MimeType,
		"source", info.Source.String(), "simulcast", info.Simulcast)
	p.sendParticipantUpdate([]*livekit.ParticipantInfo{self})
	p.room.broadcastParticipant(p, self)
	p.room.trackPublished(p, pt)
}

func transceiverOf(pc *webrtc.PeerConnection, rr *webrtc.RTPReceiver) *webrtc.RTPTransceiver {
	for _, tr := range pc.GetTransceivers() {
		if tr.Receiver() == rr {
			return tr
		}
	}
	return nil
}

// layerOf maps a simulcast RID to a layer index, using the layers the client announced.
func (p *Participant) layerOf(pt *publishedTrack, rid string) int8 {
	if rid == "" {
		return 0
	}
	if l, ok := sfu.LayerForRID(rid); ok {
		return l
	}
	return 0
}

// unpublish removes a published track: its media ended (the client removed it) or it was revoked.
func (p *Participant) unpublish(trackSID string, notifyClient bool) {
	p.mu.Lock()
	pt, ok := p.published[trackSID]
	if !ok {
		p.mu.Unlock()
		return
	}
	delete(p.published, trackSID)
	delete(p.byRemoteID, pt.remoteID)
	var self *livekit.ParticipantInfo
	if !p.closed.Load() {
		self = p.changedLocked()
	}
	p.mu.Unlock()
	go pt.track.Close()
	if self == nil {
		return
	}
	p.log.Info("track unpublished", "track", trackSID)
	if notifyClient {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackUnpublished{TrackUnpublished: &livekit.TrackUnpublishedResponse{TrackSid: trackSID}}})
	}
	p.sendParticipantUpdate([]*livekit.ParticipantInfo{self})
	p.room.broadcastParticipant(p, self)
}

func (p *Participant) setTrackMuted(sid string, muted bool) {
	found := p.updateTrackInfo(sid, func(ti *livekit.TrackInfo) { ti.Muted = muted })
	if !found {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			Reason: livekit.RequestResponse_NOT_FOUND, Message: "track not found",
			Request: &livekit.RequestResponse_Mute{Mute: &livekit.MuteTrackRequest{Sid: sid, Muted: muted}}}}})
	}
}

// updateTrackInfo changes a published (or pending) track's info and tells everyone.
func (p *Participant) updateTrackInfo(sid string, f func(*livekit.TrackInfo)) bool {
	p.mu.Lock()
	if pt, ok := p.published[sid]; ok {
		ti := cloneTrackInfo(pt.info)
		f(ti)
		pt.info = ti
		self := p.changedLocked()
		p.mu.Unlock()
		p.sendParticipantUpdate([]*livekit.ParticipantInfo{self})
		p.room.broadcastParticipant(p, self)
		return true
	}
	for _, pt := range p.pending {
		if pt.info.Sid == sid {
			f(pt.info)
			p.mu.Unlock()
			return true
		}
	}
	p.mu.Unlock()
	return false
}

// publishedTrackBySID finds a track this participant publishes.
func (p *Participant) publishedTrackBySID(sid string) *publishedTrack {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.published[sid]
}

func (p *Participant) trackInfo(sid string) *livekit.TrackInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pt := p.published[sid]; pt != nil {
		return pt.info
	}
	return nil
}

// desiredLayer turns a subscriber's settings into a layer of the publisher's track.
func desiredLayer(info *livekit.TrackInfo, s *livekit.UpdateTrackSettings, adaptive bool) int8 {
	if info == nil || info.Type != livekit.TrackType_VIDEO {
		return 0
	}
	if s == nil {
		if adaptive {
			return 0
		}
		return sfu.MaxLayers - 1
	}
	if s.Disabled {
		return sfu.LayerOff
	}
	q := s.Quality
	if s.Width > 0 || s.Height > 0 {
		q = livekit.VideoQuality_HIGH
		layers := sortedLayers(info.Layers)
		for _, l := range layers {
			if l.Width >= s.Width && l.Height >= s.Height {
				q = l.Quality
				break
			}
		}
	}
	if q == livekit.VideoQuality_OFF {
		return sfu.LayerOff
	}
	if !info.Simulcast {
		return 0
	}
	return int8(q)
}

// subscribe starts sending pub's track to p.
func (p *Participant) subscribe(pub *Participant, t *publishedTrack) {
	if p.closed.Load() || !p.started.Load() || pub == p {
		return // not started: start subscribes what is published by then
	}
	if !pub.allowsSubscriber(p, t.info.Sid) {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionPermissionUpdate{
			SubscriptionPermissionUpdate: &livekit.SubscriptionPermissionUpdate{ParticipantSid: pub.sid, TrackSid: t.info.Sid, Allowed: false}}})
		return
	}
	p.mu.Lock()
	if _, ok := p.subscriptions[t.info.Sid]; ok {
		p.mu.Unlock()
		return
	}
	sub := &subscription{publisher: pub, trackSID: t.info.Sid}
	p.subscriptions[t.info.Sid] = sub
	adaptive := p.adaptiveStream
	p.mu.Unlock()

	info := pub.trackInfo(t.info.Sid)
	tr := p.publisher()
	if p.sub != nil {
		tr = p.sub
	}
	dt := sfu.NewDownTrack(sfu.DownTrackParams{
		Lane:         tr.Lane(),
		Track:        t.track,
		SubscriberID: p.sid,
		StreamID:     pub.sid + "|" + t.info.Sid,
		DesiredLayer: desiredLayer(info, sub.settings, adaptive),
		OnBound: func() {
			pub.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackSubscribed{
				TrackSubscribed: &livekit.TrackSubscribed{TrackSid: t.info.Sid}}})
		},
		OnClose: func() { p.subscriptionEnded(t.info.Sid) },
		OnStreamState: func(paused bool) {
			state := livekit.StreamState_ACTIVE
			if paused {
				state = livekit.StreamState_PAUSED
			}
			p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_StreamStateUpdate{StreamStateUpdate: &livekit.StreamStateUpdate{
				StreamStates: []*livekit.StreamStateInfo{{ParticipantSid: pub.sid, TrackSid: t.info.Sid, State: state}}}}})
		},
	})
	dt.SetPriority(trackPriority(info, false))
	p.mu.Lock()
	if p.subscriptions[t.info.Sid] != sub {
		p.mu.Unlock()
		return
	}
	sub.dt = dt
	p.mu.Unlock()
	if !t.track.AddDownTrack(dt) {
		p.subscriptionEnded(t.info.Sid)
		return
	}
	placed, err := tr.AddDownTrack(dt)
	if err != nil {
		p.log.Warn("subscribe failed", "track", t.info.Sid, "err", err)
		dt.Close()
		return
	}
	if !placed {
		p.scheduleMediaSections()
	}
}

// Allocation priorities: a shared screen is what a meeting looks at; then whoever is speaking.
const (
	priorityNormal  = 1
	prioritySpeaker = 2
	priorityScreen  = 3
)

func trackPriority(info *livekit.TrackInfo, speaking bool) int {
	switch {
	case info != nil && info.Source == livekit.TrackSource_SCREEN_SHARE:
		return priorityScreen
	case speaking:
		return prioritySpeaker
	}
	return priorityNormal
}

// scheduleMediaSections asks a single-connection client, once per burst of changes, to offer again
// with enough receive slots for what waits to be sent.
func (p *Participant) scheduleMediaSections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sectionsTimer != nil {
		return
	}
	p.sectionsTimer = time.AfterFunc(20*time.Millisecond, func() {
		p.mu.Lock()
		p.sectionsTimer = nil
		p.mu.Unlock()
		if p.closed.Load() {
			return
		}
		audio, video := p.publisher().MissingSlots()
		p.requestMediaSections(audio, video)
	})
}

// unsubscribe stops sending a track to p.
func (p *Participant) unsubscribe(trackSID string) {
	p.mu.Lock()
	sub, ok := p.subscriptions[trackSID]
	delete(p.subscriptions, trackSID)
	p.mu.Unlock()
	if !ok || sub.dt == nil {
		return
	}
	sub.dt.Close()
}

// subscriptionEnded cleans up after a downtrack closed (unsubscribed, or the track went away).
func (p *Participant) subscriptionEnded(trackSID string) {
	p.mu.Lock()
	sub := p.subscriptions[trackSID]
	if sub != nil && (sub.dt == nil || isClosed(sub.dt)) {
		delete(p.subscriptions, trackSID)
	}
	p.mu.Unlock()
	if p.closed.Load() {
		return
	}
	var dt *sfu.DownTrack
	if sub != nil {
		dt = sub.dt
	}
	if dt == nil {
		return
	}
	if p.sub != nil {
		p.sub.RemoveDownTrack(dt)
		return
	}
	p.publisher().RemoveDownTrack(dt)
	p.scheduleMediaSections()
}

func isClosed(dt *sfu.DownTrack) bool {
	select {
	case <-dt.Done():
		return true
	default:
		return false
	}
}

func (p *Participant) handleSubscription(u *livekit.UpdateSubscription) {
	sids := append([]string{}, u.TrackSids...)
	for _, pt := range u.ParticipantTracks {
		sids = append(sids, pt.TrackSids...)
	}
	seen := map[string]bool{}
	for _, sid := range sids {
		if seen[sid] {
			continue
		}
		seen[sid] = true
		if !u.Subscribe {
			p.unsubscribe(sid)
			continue
		}
		if !p.canSubscribe() {
			p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionPermissionUpdate{
				SubscriptionPermissionUpdate: &livekit.SubscriptionPermissionUpdate{TrackSid: sid, Allowed: false}}})
			continue
		}
		pub, t := p.room.findTrack(sid)
		if t == nil {
			p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionResponse{SubscriptionResponse: &livekit.SubscriptionResponse{
				TrackSid: sid, Err: livekit.SubscriptionError_SE_TRACK_NOTFOUND}}})
			continue
		}
		p.subscribe(pub, t)
	}
}

func (p *Participant) handleTrackSettings(s *livekit.UpdateTrackSettings) {
	for _, sid := range s.TrackSids {
		p.mu.Lock()
		sub := p.subscriptions[sid]
		if sub != nil {
			sub.settings = s
		}
		adaptive := p.adaptiveStream
		p.mu.Unlock()
		if sub == nil || sub.dt == nil {
			continue
		}
		info := sub.publisher.trackInfo(sid)
		if info == nil {
			continue
		}
		if info.Type == livekit.TrackType_AUDIO {
			sub.dt.SetPaused(s.Disabled)
			continue
		}
		sub.dt.SetDesiredLayer(desiredLayer(info, s, adaptive))
	}
}

func (p *Participant) handleSubscriptionPermission(sp *livekit.SubscriptionPermission) {
	p.mu.Lock()
	p.subPerm = sp
	p.mu.Unlock()
	// Enforce on current subscribers and tell those whose access changed.
	for _, q := range p.room.others(p) {
		for _, t := range p.publishedTracks() {
			allowed := p.allowsSubscriber(q, t.info.Sid)
			q.mu.Lock()
			_, subscribed := q.subscriptions[t.info.Sid]
			q.mu.Unlock()
			if subscribed && !allowed {
				q.unsubscribe(t.info.Sid)
				q.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionPermissionUpdate{
					SubscriptionPermissionUpdate: &livekit.SubscriptionPermissionUpdate{ParticipantSid: p.sid, TrackSid: t.info.Sid, Allowed: false}}})
			} else if !subscribed && allowed && q.autoSubscribe && q.canSubscribe() {
				q.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionPermissionUpdate{
					SubscriptionPermissionUpdate: &livekit.SubscriptionPermissionUpdate{ParticipantSid: p.sid, TrackSid: t.info.Sid, Allowed: true}}})
				q.subscribe(p, t)
			}
		}
	}
}

// allowsSubscriber applies the publisher's subscription permission to a subscriber.
func (p *Participant) allowsSubscriber(q *Participant, trackSID string) bool {
	p.mu.Lock()
	sp := p.subPerm
	p.mu.Unlock()
	if sp == nil || sp.AllParticipants {
		return true
	}
	for _, tp := range sp.TrackPermissions {
		if tp.ParticipantSid != q.sid && tp.ParticipantIdentity != q.identity {
			continue
		}
		if tp.AllTracks {
			return true
		}
		for _, s := range tp.TrackSids {
			if s == trackSID {
				return true
			}
		}
	}
	return false
}

func cloneTrackInfo(ti *livekit.TrackInfo) *livekit.TrackInfo {
	return proto.Clone(ti).(*livekit.TrackInfo)
}
