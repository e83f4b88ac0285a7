package room

import (
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"

	"github.com/hop-meet/hop/signaling/chat"
	"github.com/hop-meet/hop/signaling/routing"
)

type roomOptions struct {
	emptyTimeout      time.Duration
	departureTimeout  time.Duration
	maxParticipants   int
	allowRemoteUnmute bool
}

func optionsFrom(c *Config) roomOptions {
	return roomOptions{
		emptyTimeout:      c.EmptyTimeout,
		departureTimeout:  c.DepartureTimeout,
		maxParticipants:   c.MaxParticipants,
		allowRemoteUnmute: c.AllowRemoteUnmute,
	}
}

// override applies what a CreateRoom request or a token's room configuration asks for (0: keep).
// The participant cap may be lowered, never raised above the operator's.
func (o *roomOptions) override(emptyTimeout, departureTimeout, maxParticipants uint32) {
	if emptyTimeout > 0 {
		o.emptyTimeout = time.Duration(emptyTimeout) * time.Second
	}
	if departureTimeout > 0 {
		o.departureTimeout = time.Duration(departureTimeout) * time.Second
	}
	if maxParticipants > 0 && (o.maxParticipants == 0 || int(maxParticipants) < o.maxParticipants) {
		o.maxParticipants = int(maxParticipants)
	}
}

// Room is one meeting on this node.
type Room struct {
	env *env
	// onClosed tells the room's owner that it closed.
	onClosed  func(*Room)
	name      string
	sid       string
	createdAt time.Time
	opts      roomOptions
	log       *slog.Logger

	mu           sync.RWMutex
	participants map[string]*Participant // by identity
	bySID        map[string]*Participant
	metadata     string
	closed       bool
	// everJoined distinguishes the empty timeout (nobody came) from the departure timeout.
	everJoined bool
	// chat is the room's recent chat, replayed to newcomers.
	chat *chat.History
	// ctl is the meeting's rules, lobby and log.
	ctl        control
	closeTimer *time.Timer
	// recording is the room's active_recording: a recorder of this node is writing it.
	recording atomic.Bool
	// moved: the room ended here to go on on another node (Move).
	moved atomic.Bool

	done chan struct{}
	wg   sync.WaitGroup
}

func newRoom(e *env, log *slog.Logger, name string, opts roomOptions, onClosed func(*Room)) *Room {
	r := &Room{
		env:          e,
		onClosed:     onClosed,
		name:         name,
		sid:          guid.New(guid.RoomPrefix),
		createdAt:    time.Now(),
		opts:         opts,
		log:          log.With("room", name),
		participants: map[string]*Participant{},
		bySID:        map[string]*Participant{},
		chat:         chat.NewHistory(chat.Limits{}),
		done:         make(chan struct{}),
	}
	r.ctl.init()
	r.wg.Add(1)
	go r.monitor()
	r.mu.Lock()
	r.armCloseTimerLocked(opts.emptyTimeout)
	r.mu.Unlock()
	return r
}

// Name is the room's name.
func (r *Room) Name() string { return r.name }

// SID is the room's session id.
func (r *Room) SID() string { return r.sid }

func (r *Room) isClosed() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.closed
}

// Info is the room as clients see it.
func (r *Room) Info() *livekit.Room {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.infoLocked()
}

func (r *Room) infoLocked() *livekit.Room {
	n, pubs := 0, 0
	for _, p := range r.participants {
		if p.hidden() {
			continue
		}
		n++
		if p.isPublisher() {
			pubs++
		}
	}
	return &livekit.Room{
		Sid:              r.sid,
		Name:             r.name,
		EmptyTimeout:     uint32(r.opts.emptyTimeout / time.Second),
		DepartureTimeout: uint32(r.opts.departureTimeout / time.Second),
		MaxParticipants:  uint32(r.opts.maxParticipants),
		CreationTime:     r.createdAt.Unix(),
		CreationTimeMs:   r.createdAt.UnixMilli(),
		Metadata:         r.metadata,
		NumParticipants:  uint32(n),
		NumPublishers:    uint32(pubs),
		ActiveRecording:  r.recording.Load(),
	}
}

// Participants returns the participants currently in the room.
func (r *Room) Participants() []*Participant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].joinedAt.Before(out[j].joinedAt) })
	return out
}

func (r *Room) size() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.participants)
}

// Participant finds a participant by identity.
func (r *Room) Participant(identity string) *Participant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.participants[identity]
}

func (r *Room) armCloseTimerLocked(d time.Duration) {
	if r.closeTimer != nil {
		r.closeTimer.Stop()
		r.closeTimer = nil
	}
	if d <= 0 {
		d = time.Second
	}
	r.closeTimer = time.AfterFunc(d, func() {
		r.mu.RLock()
		empty := len(r.participants) == 0
		r.mu.RUnlock()
		if empty {
			r.Close(livekit.DisconnectReason_ROOM_CLOSED)
		}
	})
}

// checkJoin reports why p could not join this room now.
func (r *Room) checkJoin(p *routing.JoinParams) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return nil // a new room of the same name will be made
	}
	if p.Reconnect && p.ParticipantSID != "" {
		if old := r.bySID[p.ParticipantSID]; old == nil || old.identity != p.Grants.Identity {
			return &JoinError{Reason: livekit.DisconnectReason_STATE_MISMATCH, Status: http.StatusNotFound,
				Msg: "participant session to resume was not found"}
		}
		return nil
	}
	if why := r.joinRefusal(p.Grants.Identity, roleFromGrants(p.Grants, r.name)); why != "" {
		r.logEvent(LogEntry{Actor: p.Grants.Identity, Action: "refuse", Detail: why, Addr: p.RemoteAddr})
		return &JoinError{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusForbidden, Msg: why}
	}
	if r.opts.maxParticipants > 0 {
		n := 0
		for id, q := range r.participants {
			if id != p.Grants.Identity && !q.hidden() {
				n++
			}
		}
		hidden := p.Grants.Video != nil && p.Grants.Video.Hidden
		if !hidden && n >= r.opts.maxParticipants {
			r.env.fullRefusals.Add(1)
			r.logEvent(LogEntry{Actor: p.Grants.Identity, Action: "refuse", Detail: "full", Addr: p.RemoteAddr})
			return &JoinError{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusForbidden,
				Msg: fmt.Sprintf("room %q is full (at most %d participants)", r.name, r.opts.maxParticipants)}
		}
	}
	return nil
}

// join adds a new participant and starts its session.
func (r *Room) join(jp *routing.JoinParams) (routing.Session, error) {
	if err := r.checkJoin(jp); err != nil {
		return nil, err
	}
	p, err := newParticipant(r, r.env, jp)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		p.close(livekit.DisconnectReason_ROOM_CLOSED, false)
		return nil, &JoinError{Reason: livekit.DisconnectReason_ROOM_CLOSED, Status: http.StatusServiceUnavailable, Msg: "room closed"}
	}
	old := r.participants[p.identity]
	r.participants[p.identity] = p
	r.bySID[p.sid] = p
	r.everJoined = true
	if r.closeTimer != nil {
		r.closeTimer.Stop()
		r.closeTimer = nil
	}
	r.mu.Unlock()
	if old != nil {
		// The same identity joined again (another tab, a reload): the newer session wins.
		old.close(livekit.DisconnectReason_DUPLICATE_IDENTITY, true)
	}
	if err := p.start(); err != nil {
		p.close(livekit.DisconnectReason_JOIN_FAILURE, false)
		return nil, &JoinError{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusBadRequest, Msg: err.Error()}
	}
	r.log.Info("participant joined", "identity", p.identity, "sid", p.sid, "singlePC", jp.SinglePC)
	r.logEvent(LogEntry{Actor: p.identity, Action: "join", Detail: string(p.role()), Addr: jp.RemoteAddr})
	r.emit("participant_joined", p, nil)
	return p.signal.current(), nil
}

// resume reattaches a participant's new signal connection.
func (r *Room) resume(jp *routing.JoinParams) (routing.Session, error) {
	r.mu.RLock()
	p := r.bySID[jp.ParticipantSID]
	r.mu.RUnlock()
	if p == nil || p.identity != jp.Grants.Identity {
		return nil, &JoinError{Reason: livekit.DisconnectReason_STATE_MISMATCH, Status: http.StatusNotFound,
			Msg: "participant session to resume was not found"}
	}
	return p.resume(jp)
}

// removed is called by a participant that has left.
func (r *Room) removed(p *Participant) {
	r.mu.Lock()
	if r.participants[p.identity] == p {
		delete(r.participants, p.identity)
	}
	delete(r.bySID, p.sid)
	empty := len(r.participants) == 0
	if empty && !r.closed {
		r.armCloseTimerLocked(r.opts.departureTimeout)
	}
	r.mu.Unlock()
	r.forgetEntered(p.sid)
	p.mu.Lock()
	reason := p.disconnect
	p.mu.Unlock()
	r.logEvent(LogEntry{Actor: p.identity, Action: "leave", Detail: reason.String()})
	r.emit("participant_left", p, nil)
	r.succession(p, p.role())
}

// others returns every participant but p.
func (r *Room) others(p *Participant) []*Participant {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Participant, 0, len(r.participants))
	for _, q := range r.participants {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// broadcastParticipant tells everyone else about p's new state; hidden participants are not shown.
func (r *Room) broadcastParticipant(p *Participant, info *livekit.ParticipantInfo) {
	if p.hidden() {
		return
	}
	for _, q := range r.others(p) {
		q.sendParticipantUpdate([]*livekit.ParticipantInfo{info})
	}
}

// trackPublished subscribes everyone who auto-subscribes to a new track.
func (r *Room) trackPublished(pub *Participant, t *publishedTrack) {
	r.emit("track_published", pub, t.info.Load())
	for _, q := range r.others(pub) {
		if q.autoSubscribe && q.canSubscribe() {
			q.subscribe(pub, t)
		}
	}
}

// Close disconnects everyone and forgets the room.
func (r *Room) Close(reason livekit.DisconnectReason) {
	r.shutdown(func(p *Participant) { p.close(reason, true) })
}

// shutdown closes the room once: end ends each participant, then the room's own work stops and
// its owner is told.
func (r *Room) shutdown(end func(*Participant)) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	if r.closeTimer != nil {
		r.closeTimer.Stop()
	}
	ps := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		end(p)
	}
	close(r.done)
	r.wg.Wait()
	if !r.Moved() {
		// A room that moved goes on on another node: it has not finished.
		r.emit("room_finished", nil, nil)
	}
	if r.onClosed != nil {
		r.onClosed(r)
	}
}

// SetMetadata changes the room's metadata and tells everyone.
func (r *Room) SetMetadata(md string) {
	r.mu.Lock()
	r.metadata = md
	info := r.infoLocked()
	ps := make([]*Participant, 0, len(r.participants))
	for _, p := range r.participants {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_RoomUpdate{RoomUpdate: &livekit.RoomUpdate{Room: info}}})
	}
}

// findTrack finds a published track by SID.
func (r *Room) findTrack(sid string) (*Participant, *publishedTrack) {
	for _, p := range r.Participants() {
		if t := p.pubs.get(sid); t != nil {
			return p, t
		}
	}
	return nil, nil
}
