package room

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/auth"
)

// maxPendingTracks bounds AddTrackRequests waiting for their media.
const maxPendingTracks = 32

// publishedTrack is a track a participant publishes: what clients see and what the SFU forwards.
type publishedTrack struct {
	// info is what clients see. Clients' messages share it, so it is replaced, never changed.
	info     atomic.Pointer[livekit.TrackInfo]
	media    MediaTrack
	remoteID string // the client's track id (msid)
}

func (t *publishedTrack) sid() string { return t.info.Load().Sid }

// pendingTrack is an AddTrackRequest whose media has not arrived yet; info, once sent to the
// client, is replaced, never changed.
type pendingTrack struct {
	req  *livekit.AddTrackRequest
	info *livekit.TrackInfo
}

// publications is what a participant publishes and who may receive it.
type publications struct {
	mu         sync.Mutex
	bySID      map[string]*publishedTrack
	byRemoteID map[string]*publishedTrack
	pending    []*pendingTrack
	// allowed is the publisher's SubscriptionPermission (nil: everyone may subscribe).
	allowed *livekit.SubscriptionPermission
}

func (ps *publications) init() {
	ps.bySID = map[string]*publishedTrack{}
	ps.byRemoteID = map[string]*publishedTrack{}
}

func (ps *publications) infos() []*livekit.TrackInfo {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]*livekit.TrackInfo, 0, len(ps.bySID))
	for _, t := range ps.bySID {
		out = append(out, t.info.Load())
	}
	return out
}

func (ps *publications) list() []*publishedTrack {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]*publishedTrack, 0, len(ps.bySID))
	for _, t := range ps.bySID {
		out = append(out, t)
	}
	return out
}

func (ps *publications) get(sid string) *publishedTrack {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.bySID[sid]
}

func (ps *publications) count() int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return len(ps.bySID)
}

// takeAll forgets every published track and returns them, to close.
func (ps *publications) takeAll() []*publishedTrack {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]*publishedTrack, 0, len(ps.bySID))
	for _, t := range ps.bySID {
		out = append(out, t)
	}
	ps.bySID = map[string]*publishedTrack{}
	ps.byRemoteID = map[string]*publishedTrack{}
	ps.pending = nil
	return out
}

func (ps *publications) permission() *livekit.SubscriptionPermission {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.allowed
}

// allows applies a publisher's subscription permission to a subscriber.
func allows(sp *livekit.SubscriptionPermission, subSID, subIdentity, trackSID string) bool {
	if sp == nil || sp.AllParticipants {
		return true
	}
	for _, tp := range sp.TrackPermissions {
		if tp.ParticipantSid != subSID && tp.ParticipantIdentity != subIdentity {
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

// allowsSubscriber reports whether q may receive this participant's track.
func (p *Participant) allowsSubscriber(q *Participant, trackSID string) bool {
	return allows(p.pubs.permission(), q.sid, q.identity, trackSID)
}

func (p *Participant) publishedTracks() []*publishedTrack { return p.pubs.list() }

func (p *Participant) isPublisher() bool { return p.pubs.count() > 0 }

// trackInfo is the current info of a published track, nil if it is not published.
func (p *Participant) trackInfo(sid string) *livekit.TrackInfo {
	if t := p.pubs.get(sid); t != nil {
		return t.info.Load()
	}
	return nil
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

func (p *Participant) refuseTrack(req *livekit.AddTrackRequest, reason livekit.RequestResponse_Reason, msg string) {
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
		Reason: reason, Message: msg, Request: &livekit.RequestResponse_AddTrack{AddTrack: req}}}})
}

func (p *Participant) handleAddTrack(req *livekit.AddTrackRequest) {
	if !auth.CanPublishSource(p.currentPermission(), req.Source) {
		p.log.Info("publish refused: no permission", "source", req.Source.String())
		p.refuseTrack(req, livekit.RequestResponse_NOT_ALLOWED, "not allowed to publish "+req.Source.String())
		return
	}
	if (req.Source == livekit.TrackSource_SCREEN_SHARE || req.Source == livekit.TrackSource_SCREEN_SHARE_AUDIO) && !p.room.screenShareAllowed(p) {
		p.refuseTrack(req, livekit.RequestResponse_NOT_ALLOWED, "screen sharing is for the meeting's hosts")
		p.room.notify(p, "screenshare-disabled", "")
		return
	}
	if req.Type != livekit.TrackType_AUDIO && req.Type != livekit.TrackType_VIDEO {
		p.refuseTrack(req, livekit.RequestResponse_UNSUPPORTED_TYPE, "unsupported track type")
		return
	}
	p.pubs.mu.Lock()
	for _, pt := range p.pubs.pending {
		if pt.req.Cid == req.Cid {
			info := pt.info
			p.pubs.mu.Unlock()
			p.write(trackPublished(req.Cid, info))
			return
		}
	}
	if len(p.pubs.pending) >= maxPendingTracks {
		p.pubs.mu.Unlock()
		p.refuseTrack(req, livekit.RequestResponse_LIMIT_EXCEEDED, "too many tracks awaiting media")
		return
	}
	info := newTrackInfo(req)
	p.pubs.pending = append(p.pubs.pending, &pendingTrack{req: req, info: info})
	p.pubs.mu.Unlock()
	if req.Type == livekit.TrackType_AUDIO && req.DisableRed {
		if pub, err := p.ensurePublisher(); err == nil {
			pub.PreferRED(false)
		}
	}
	p.write(trackPublished(req.Cid, info))
}

func newTrackInfo(req *livekit.AddTrackRequest) *livekit.TrackInfo {
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
	return info
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

// matchPendingLocked finds the AddTrackRequest an incoming stream answers: by the client's track
// id, then by codec cid, then the first pending track of its kind.
func (ps *publications) matchPendingLocked(key string, kind webrtc.RTPCodecType) int {
	for i, pt := range ps.pending {
		if pt.req.Cid == key || pt.info.Sid == key {
			return i
		}
		for _, c := range pt.info.Codecs {
			if c.Cid == key {
				return i
			}
		}
	}
	want := livekit.TrackType_AUDIO
	if kind == webrtc.RTPCodecTypeVideo {
		want = livekit.TrackType_VIDEO
	}
	for i, pt := range ps.pending {
		if pt.info.Type == want {
			return i
		}
	}
	return -1
}

// onTrack matches an incoming media stream (or simulcast layer) to its AddTrackRequest and publishes it.
func (p *Participant) onTrack(in IncomingTrack) {
	if p.closed.Load() {
		return
	}
	pub := p.conns.publisher()
	if pub == nil {
		return
	}
	key := in.ID()
	layer := layerOf(in.RID())
	p.pubs.mu.Lock()
	if pt, ok := p.pubs.byRemoteID[key]; ok {
		// Another simulcast layer of a track already published.
		p.pubs.mu.Unlock()
		pt.media.AddLayer(in, layer)
		return
	}
	idx := p.pubs.matchPendingLocked(key, in.Kind())
	if idx < 0 {
		p.pubs.mu.Unlock()
		p.log.Warn("media arrived for a track that was never announced; ignoring", "trackID", key, "kind", in.Kind().String())
		return
	}
	match := p.pubs.pending[idx]
	p.pubs.pending = append(p.pubs.pending[:idx], p.pubs.pending[idx+1:]...)
	info := cloneTrackInfo(match.info)
	codec := in.Codec()
	info.MimeType = strings.ToLower(codec.MimeType)
	if len(info.Codecs) > 0 {
		info.Codecs[0].MimeType = info.MimeType
	}
	info.Mid = in.Mid()
	pt := &publishedTrack{remoteID: key}
	pt.info.Store(info)
	sid := info.Sid
	var once sync.Once
	pt.media = pub.NewTrack(TrackParams{
		ID:              sid,
		PublisherID:     p.sid,
		Kind:            in.Kind(),
		Encrypted:       info.Encryption != livekit.Encryption_NONE,
		Logger:          p.log,
		OnEnded:         func() { once.Do(func() { p.unpublish(sid, false) }) },
		OnDemandChanged: p.demandChanged,
	})
	p.pubs.bySID[sid] = pt
	p.pubs.byRemoteID[key] = pt
	p.pubs.mu.Unlock()

	pt.media.AddLayer(in, layer)
	p.log.Info("track published", "track", sid, "kind", in.Kind().String(), "codec", codec.MimeType,
		"source", info.Source.String(), "simulcast", info.Simulcast)
	p.changed()
	p.room.trackPublished(p, pt)
	if p.room.mutedOnEntry(p, info.Source) {
		p.muteSource(info.Source)
	}
}

// layerOf maps a simulcast RID to a layer index (0 without simulcast or for unknown RIDs).
func layerOf(rid string) int8 {
	switch strings.ToLower(rid) {
	case "h", "m", "mid", "medium", "1":
		return 1
	case "f", "high", "2":
		return 2
	}
	return 0
}

// unpublish removes a published track: its media ended (the client removed it) or it was revoked.
func (p *Participant) unpublish(trackSID string, notifyClient bool) {
	p.pubs.mu.Lock()
	pt, ok := p.pubs.bySID[trackSID]
	if ok {
		delete(p.pubs.bySID, trackSID)
		delete(p.pubs.byRemoteID, pt.remoteID)
	}
	p.pubs.mu.Unlock()
	if !ok {
		return
	}
	// Closing waits for the track's goroutines, one of which may be the caller (OnEnded).
	go pt.media.Close()
	p.room.emit("track_unpublished", p, pt.info.Load())
	if p.closed.Load() {
		return
	}
	p.log.Info("track unpublished", "track", trackSID)
	if notifyClient {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_TrackUnpublished{TrackUnpublished: &livekit.TrackUnpublishedResponse{TrackSid: trackSID}}})
	}
	p.changed()
}

// clientMute is the client muting or unmuting its own track; unmuting a microphone is refused
// while the meeting's hosts block it.
func (p *Participant) clientMute(sid string, muted bool) {
	if info := p.trackInfo(sid); !muted && info != nil && info.Source == livekit.TrackSource_MICROPHONE && !p.room.mayUnmute(p) {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Mute{Mute: &livekit.MuteTrackRequest{Sid: sid, Muted: true}}})
		p.room.notify(p, "unmute-blocked", "")
		return
	}
	p.setTrackMuted(sid, muted)
}

func (p *Participant) setTrackMuted(sid string, muted bool) {
	if !p.updateTrackInfo(sid, func(ti *livekit.TrackInfo) { ti.Muted = muted }) {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			Reason: livekit.RequestResponse_NOT_FOUND, Message: "track not found",
			Request: &livekit.RequestResponse_Mute{Mute: &livekit.MuteTrackRequest{Sid: sid, Muted: muted}}}}})
	}
}

// updateTrackInfo changes a published (or pending) track's info on a copy and tells everyone.
func (p *Participant) updateTrackInfo(sid string, f func(*livekit.TrackInfo)) bool {
	p.pubs.mu.Lock()
	if pt, ok := p.pubs.bySID[sid]; ok {
		ti := cloneTrackInfo(pt.info.Load())
		f(ti)
		pt.info.Store(ti)
		p.pubs.mu.Unlock()
		p.changed()
		return true
	}
	for _, pt := range p.pubs.pending {
		if pt.info.Sid == sid {
			ti := cloneTrackInfo(pt.info)
			f(ti)
			pt.info = ti
			p.pubs.mu.Unlock()
			return true
		}
	}
	p.pubs.mu.Unlock()
	return false
}

// handleSubscriptionPermission sets who may receive this participant's tracks, and has every
// other participant apply it to what it receives.
func (p *Participant) handleSubscriptionPermission(sp *livekit.SubscriptionPermission) {
	p.pubs.mu.Lock()
	p.pubs.allowed = sp
	p.pubs.mu.Unlock()
	tracks := p.publishedTracks()
	for _, q := range p.room.others(p) {
		q.publisherPermissionChanged(p, tracks)
	}
}

func cloneTrackInfo(ti *livekit.TrackInfo) *livekit.TrackInfo {
	return proto.Clone(ti).(*livekit.TrackInfo)
}
