package room

import (
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

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/routing"
)

// Participant is one person (or SDK client) in a room. Its concerns live in parts with a lock of
// their own: the signal link and request dispatch (signal.go), liveness and resume (liveness.go),
// its connections (connections.go), what it publishes (publishing.go), what it receives
// (subscriptions.go) and its data channels (data.go). Its own mu guards who it is as others see
// it; it may be held while the publications' lock is taken, never the other way round, and a
// participant never takes another's locks: it asks through methods.
type Participant struct {
	room       *Room
	env        *env
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

	mu         sync.Mutex
	name       string
	metadata   string
	attributes map[string]string
	permission *livekit.ParticipantPermission // replaced, never mutated
	// basePermission is what the token (or an administrator) allows; the role narrows it.
	basePermission *livekit.ParticipantPermission
	state          livekit.ParticipantInfo_State
	version        uint32
	disconnect     livekit.DisconnectReason

	// remoteAddr is the client's address as the signalling server saw it (for the meeting log).
	remoteAddr string

	signal signalLink
	live   liveness
	conns  connections
	pubs   publications
	subs   subscriptions
	data   dataChannels

	closed atomic.Bool
	// started is set once the client has its JoinResponse and the connections exist: from then on
	// tracks may be subscribed for it. (It is in the room, visible to others, a little earlier.)
	started atomic.Bool
	done    chan struct{}
	// dynacastKick wakes the upkeep loop when subscribers' demand changes.
	dynacastKick chan struct{}
}

func newParticipant(r *Room, e *env, jp *routing.JoinParams) (*Participant, error) {
	g := jp.Grants
	p := &Participant{
		room:           r,
		env:            e,
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
		done:           make(chan struct{}),
		dynacastKick:   make(chan struct{}, 1),
	}
	p.signal.sess = newSession()
	p.pubs.init()
	p.subs.init()
	if p.attributes == nil {
		p.attributes = map[string]string{}
	}
	if jp.Request != nil {
		if md := jp.Request.Metadata; md != "" {
			p.metadata = md
		}
		for k, v := range clientAttributes(jp.Request.ParticipantAttributes) {
			p.attributes[k] = v
		}
	}
	role := roleFromGrants(g, r.name)
	p.attributes[attrRole] = string(role)
	delete(p.attributes, attrStage)
	p.basePermission = p.permission
	p.permission = permissionFor(p.basePermission, role, false)
	p.remoteAddr = jp.RemoteAddr
	if err := checkDetailsSize(e.limits, p.metadata, p.name, p.attributes); err != nil {
		return nil, &JoinError{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusBadRequest, Msg: err.Error()}
	}
	p.log = r.log.With("identity", p.identity, "participant", p.sid)
	p.live.lastPing.Store(time.Now().UnixNano())
	return p, nil
}

// checkDetailsSize holds metadata, name and attributes together to the metadata limit.
func checkDetailsSize(l Limits, metadata, name string, attrs map[string]string) error {
	size := len(metadata) + len(name)
	for k, v := range attrs {
		size += len(k) + len(v)
	}
	if l.MaxMetadata > 0 && size > l.MaxMetadata {
		return fmt.Errorf("metadata larger than %d bytes", l.MaxMetadata)
	}
	return nil
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

func (p *Participant) currentPermission() *livekit.ParticipantPermission {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.permission
}

func (p *Participant) isActive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state == livekit.ParticipantInfo_ACTIVE
}

// Info is the participant as clients see it.
func (p *Participant) Info() *livekit.ParticipantInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.infoLocked()
}

func (p *Participant) infoLocked() *livekit.ParticipantInfo {
	tracks := p.pubs.infos()
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
		IsPublisher:      len(tracks) > 0,
		Kind:             kind,
		Attributes:       maps.Clone(p.attributes),
		DisconnectReason: p.disconnect,
	}
}

// changedLocked bumps the version and returns the new info, to broadcast after the lock is released.
func (p *Participant) changedLocked() *livekit.ParticipantInfo {
	p.version++
	return p.infoLocked()
}

// changed bumps the version and tells the participant and everyone else.
func (p *Participant) changed() {
	p.mu.Lock()
	if p.state == livekit.ParticipantInfo_DISCONNECTED {
		p.mu.Unlock()
		return
	}
	info := p.changedLocked()
	p.mu.Unlock()
	p.sendParticipantUpdate([]*livekit.ParticipantInfo{info})
	p.room.broadcastParticipant(p, info)
}

func (p *Participant) sendParticipantUpdate(infos []*livekit.ParticipantInfo) {
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Update{Update: &livekit.ParticipantUpdate{Participants: infos}}})
}

func (p *Participant) clientConfiguration() *livekit.ClientConfiguration {
	return &livekit.ClientConfiguration{ResumeConnection: livekit.ClientConfigSetting_ENABLED}
}

// start sets up the connections, answers the join and begins handling requests.
func (p *Participant) start() error {
	if err := p.setupConnections(); err != nil {
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

	sub := p.conns.subscriber()
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Join{Join: &livekit.JoinResponse{
		Room:                 p.room.Info(),
		Participant:          self,
		OtherParticipants:    otherInfos,
		ServerVersion:        ServerVersion,
		IceServers:           p.env.iceServersFor(p.sid),
		SubscriberPrimary:    sub != nil && p.canSubscribe(),
		ClientConfiguration:  p.clientConfiguration(),
		ServerRegion:         p.env.region,
		PingTimeout:          pingTimeout,
		PingInterval:         pingInterval,
		ServerInfo:           p.env.serverInfo(),
		EnabledPublishCodecs: enabledPublishCodecs(),
		FastPublish:          self.GetPermission().GetCanPublish(),
	}}})
	p.room.broadcastParticipant(p, self)

	var joinOffer *livekit.SessionDescription
	if p.singlePC {
		joinOffer = p.join.GetPublisherOffer()
	}
	if sub != nil && p.canSubscribe() {
		// The subscriber connection is the primary one: offer it now, with the data channels,
		// so the client can finish connecting even before anything is subscribed.
		sub.Negotiate(false)
	}
	// Tracks published from here on are subscribed by the room; the ones published until now
	// (including by anyone who joined since others was read) are subscribed here. A track caught by
	// both is subscribed once.
	p.started.Store(true)
	if p.autoSubscribe && p.canSubscribe() {
		p.subscribeToAll()
	}
	sess := p.signal.current()
	p.env.group.Add(2)
	go p.upkeep()
	go func() {
		if joinOffer != nil {
			if d := answerDelay(p.clientInfo); d > 0 {
				time.Sleep(d)
			}
			p.handleOffer(joinOffer)
		}
		p.requestLoop(sess)
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

// applyDetailsLocked sets metadata and name (when not empty) and attributes (an empty value
// removes one), refusing the change if the result exceeds the metadata limit. p.mu is held.
func (p *Participant) applyDetailsLocked(metadata, name string, attrs map[string]string) error {
	next := maps.Clone(p.attributes)
	for k, v := range attrs {
		if v == "" {
			delete(next, k)
		} else {
			next[k] = v
		}
	}
	md, nm := p.metadata, p.name
	if metadata != "" {
		md = metadata
	}
	if name != "" {
		nm = name
	}
	if err := checkDetailsSize(p.env.limits, md, nm, next); err != nil {
		return err
	}
	p.metadata, p.name, p.attributes = md, nm, next
	return nil
}

func (p *Participant) handleUpdateMetadata(u *livekit.UpdateParticipantMetadata) {
	respond := func(reason livekit.RequestResponse_Reason, msg string) {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RequestResponse{RequestResponse: &livekit.RequestResponse{
			RequestId: u.RequestId, Reason: reason, Message: msg,
			Request: &livekit.RequestResponse_UpdateMetadata{UpdateMetadata: u}}}})
	}
	for k := range u.Attributes {
		if strings.HasPrefix(k, attrOwned) && k != attrHand {
			respond(livekit.RequestResponse_NOT_ALLOWED, "attribute "+k+" is set by the server only")
			return
		}
	}
	// Everyone in a meeting may raise a hand; the rest needs the grant.
	_, hand := u.Attributes[attrHand]
	handOnly := hand && u.Metadata == "" && u.Name == "" && len(u.Attributes) == 1
	p.mu.Lock()
	if !p.permission.CanUpdateMetadata && !handOnly {
		p.mu.Unlock()
		respond(livekit.RequestResponse_NOT_ALLOWED, "participant is not allowed to update its own metadata")
		return
	}
	if err := p.applyDetailsLocked(u.Metadata, u.Name, u.Attributes); err != nil {
		p.mu.Unlock()
		respond(livekit.RequestResponse_LIMIT_EXCEEDED, err.Error())
		return
	}
	p.mu.Unlock()
	respond(livekit.RequestResponse_OK, "")
	p.changed()
}

// close ends the participant: it leaves the room, its tracks are unpublished and its connections
// closed. notify sends the client a LeaveRequest with the reason first. Idempotent, and safe from
// any goroutine, the participant's own included: it never waits for them (they end on done).
func (p *Participant) close(reason livekit.DisconnectReason, notify bool) {
	if p.closed.Swap(true) {
		return
	}
	p.mu.Lock()
	p.disconnect = reason
	p.state = livekit.ParticipantInfo_DISCONNECTED
	info := p.changedLocked()
	p.mu.Unlock()
	p.live.stopResumeTimer()
	close(p.done)
	if notify {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
			Reason: reason, Action: livekit.LeaveRequest_DISCONNECT}}})
	}
	p.signal.current().end()

	p.room.removed(p)
	p.room.broadcastParticipant(p, info)
	for _, t := range p.pubs.takeAll() {
		t.media.Close()
		p.room.emit("track_unpublished", p, t.info.Load())
	}
	for _, s := range p.subs.takeAll() {
		if s.down != nil {
			s.down.Close()
		}
	}
	p.subs.stopTimer()
	p.data.close()
	p.conns.close()
	p.log.Info("participant left", "reason", reason.String())
}

// errParticipantClosed is returned for work asked of a participant that has left.
var errParticipantClosed = errors.New("participant closed")

// errTrackClosed is returned when subscribing to a track that has just been unpublished.
var errTrackClosed = errors.New("track closed")
