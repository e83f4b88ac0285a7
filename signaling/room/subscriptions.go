package room

import (
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
)

// subscription is this participant receiving another's track.
type subscription struct {
	publisher *Participant
	trackSID  string
	down      Downtrack // nil until the media side exists
	// settings is the last UpdateTrackSettings for this track.
	settings *livekit.UpdateTrackSettings
}

// subscriptions are the tracks a participant receives.
type subscriptions struct {
	mu    sync.Mutex
	bySID map[string]*subscription
	// sectionsTimer batches MediaSectionsRequirement messages (single-connection mode).
	sectionsTimer *time.Timer
}

func (ss *subscriptions) init() { ss.bySID = map[string]*subscription{} }

func (ss *subscriptions) has(sid string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	_, ok := ss.bySID[sid]
	return ok
}

func (ss *subscriptions) sids() []string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]string, 0, len(ss.bySID))
	for sid := range ss.bySID {
		out = append(out, sid)
	}
	return out
}

func (ss *subscriptions) takeAll() []*subscription {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := make([]*subscription, 0, len(ss.bySID))
	for _, s := range ss.bySID {
		out = append(out, s)
	}
	ss.bySID = map[string]*subscription{}
	return out
}

func (ss *subscriptions) stopTimer() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.sectionsTimer != nil {
		ss.sectionsTimer.Stop()
		ss.sectionsTimer = nil
	}
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
		return maxLayers - 1
	}
	if s.Disabled {
		return layerOff
	}
	q := s.Quality
	if s.Width > 0 || s.Height > 0 {
		q = livekit.VideoQuality_HIGH
		for _, l := range sortedLayers(info.Layers) {
			if l.Width >= s.Width && l.Height >= s.Height {
				q = l.Quality
				break
			}
		}
	}
	if q == livekit.VideoQuality_OFF {
		return layerOff
	}
	if !info.Simulcast {
		return 0
	}
	return int8(q)
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

func (p *Participant) refuseSubscription(pubSID, trackSID string) {
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionPermissionUpdate{
		SubscriptionPermissionUpdate: &livekit.SubscriptionPermissionUpdate{ParticipantSid: pubSID, TrackSid: trackSID, Allowed: false}}})
}

// subscribeToAll subscribes to every track the others publish.
func (p *Participant) subscribeToAll() {
	for _, q := range p.room.others(p) {
		for _, t := range q.publishedTracks() {
			p.subscribe(q, t)
		}
	}
}

// subscribe starts sending pub's track to p.
func (p *Participant) subscribe(pub *Participant, t *publishedTrack) {
	if p.closed.Load() || !p.started.Load() || pub == p {
		return // not started: start subscribes what is published by then
	}
	sid := t.sid()
	if !pub.allowsSubscriber(p, sid) {
		p.refuseSubscription(pub.sid, sid)
		return
	}
	conn := p.conns.downstream()
	if conn == nil {
		return
	}
	p.subs.mu.Lock()
	if _, ok := p.subs.bySID[sid]; ok {
		p.subs.mu.Unlock()
		return
	}
	sub := &subscription{publisher: pub, trackSID: sid}
	p.subs.bySID[sid] = sub
	p.subs.mu.Unlock()

	info := t.info.Load()
	down, placed, err := conn.Subscribe(t.media, SubscribeParams{
		SubscriberID: p.sid,
		StreamID:     pub.sid + "|" + sid,
		DesiredLayer: desiredLayer(info, nil, p.adaptiveStream),
		Priority:     trackPriority(info, false),
		OnBound: func() {
			pub.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackSubscribed{
				TrackSubscribed: &livekit.TrackSubscribed{TrackSid: sid}}})
		},
		OnClose: func() { p.subscriptionEnded(sid) },
		OnStreamState: func(paused bool) {
			state := livekit.StreamState_ACTIVE
			if paused {
				state = livekit.StreamState_PAUSED
			}
			p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_StreamStateUpdate{StreamStateUpdate: &livekit.StreamStateUpdate{
				StreamStates: []*livekit.StreamStateInfo{{ParticipantSid: pub.sid, TrackSid: sid, State: state}}}}})
		},
	})
	if err != nil {
		if err != errTrackClosed {
			p.log.Warn("subscribe failed", "track", sid, "err", err)
		}
		p.subs.mu.Lock()
		if p.subs.bySID[sid] == sub {
			delete(p.subs.bySID, sid)
		}
		p.subs.mu.Unlock()
		return
	}
	p.subs.mu.Lock()
	if p.subs.bySID[sid] != sub {
		// Unsubscribed (or closed) meanwhile.
		p.subs.mu.Unlock()
		down.Close()
		return
	}
	sub.down = down
	settings := sub.settings
	p.subs.mu.Unlock()
	if settings != nil {
		p.applySettings(sub, settings)
	}
	if !placed {
		p.scheduleMediaSections()
	}
}

// scheduleMediaSections asks a single-connection client, once per burst of changes, to offer again
// with enough receive slots for what waits to be sent.
func (p *Participant) scheduleMediaSections() {
	p.subs.mu.Lock()
	defer p.subs.mu.Unlock()
	if p.subs.sectionsTimer != nil || p.closed.Load() {
		return
	}
	p.subs.sectionsTimer = time.AfterFunc(20*time.Millisecond, func() {
		p.subs.mu.Lock()
		p.subs.sectionsTimer = nil
		p.subs.mu.Unlock()
		if p.closed.Load() {
			return
		}
		if pub := p.conns.publisher(); pub != nil {
			audio, video := pub.MissingSlots()
			p.requestMediaSections(audio, video)
		}
	})
}

// unsubscribe stops sending a track to p.
func (p *Participant) unsubscribe(trackSID string) {
	p.subs.mu.Lock()
	sub, ok := p.subs.bySID[trackSID]
	delete(p.subs.bySID, trackSID)
	p.subs.mu.Unlock()
	if ok && sub.down != nil {
		sub.down.Close()
	}
}

// subscriptionEnded cleans up after a downtrack closed (unsubscribed, or the track went away).
func (p *Participant) subscriptionEnded(trackSID string) {
	p.subs.mu.Lock()
	sub := p.subs.bySID[trackSID]
	var down Downtrack
	if sub != nil {
		down = sub.down
		if down == nil || isDone(down) {
			delete(p.subs.bySID, trackSID)
		}
	}
	p.subs.mu.Unlock()
	if p.closed.Load() || down == nil {
		return
	}
	if s := p.conns.subscriber(); s != nil {
		s.Unsubscribe(down)
		return
	}
	if pub := p.conns.publisher(); pub != nil {
		pub.Unsubscribe(down)
		p.scheduleMediaSections()
	}
}

func isDone(d Downtrack) bool {
	select {
	case <-d.Done():
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
			p.refuseSubscription("", sid)
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
		p.subs.mu.Lock()
		sub := p.subs.bySID[sid]
		if sub != nil {
			sub.settings = s
		}
		p.subs.mu.Unlock()
		if sub != nil {
			p.applySettings(sub, s)
		}
	}
}

// applySettings gives a subscription's downtrack what the client asked for.
func (p *Participant) applySettings(sub *subscription, s *livekit.UpdateTrackSettings) {
	p.subs.mu.Lock()
	down := sub.down
	p.subs.mu.Unlock()
	if down == nil {
		return // applied when the downtrack exists
	}
	info := sub.publisher.trackInfo(sub.trackSID)
	if info == nil {
		return
	}
	if info.Type == livekit.TrackType_AUDIO {
		down.SetPaused(s.Disabled)
		return
	}
	down.SetDesiredLayer(desiredLayer(info, s, p.adaptiveStream))
}

// publisherPermissionChanged applies pub's new subscription permission to what p receives of
// tracks, telling the client where its access changed.
func (p *Participant) publisherPermissionChanged(pub *Participant, tracks []*publishedTrack) {
	for _, t := range tracks {
		sid := t.sid()
		allowed := pub.allowsSubscriber(p, sid)
		subscribed := p.subs.has(sid)
		switch {
		case subscribed && !allowed:
			p.unsubscribe(sid)
			p.refuseSubscription(pub.sid, sid)
		case !subscribed && allowed && p.autoSubscribe && p.canSubscribe():
			p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscriptionPermissionUpdate{
				SubscriptionPermissionUpdate: &livekit.SubscriptionPermissionUpdate{ParticipantSid: pub.sid, TrackSid: sid, Allowed: true}}})
			p.subscribe(pub, t)
		}
	}
}
