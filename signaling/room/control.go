package room

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"
)

// Settings are a meeting's rules: set when it is made, changed by its hosts, sent to everyone
// (data topic hop.meeting) so the app shows them.
type Settings struct {
	Lobby            bool   `json:"lobby"`
	HasPassword      bool   `json:"hasPassword"`
	Locked           bool   `json:"locked"`
	MuteOnEntry      bool   `json:"muteOnEntry"`
	CameraOffOnEntry bool   `json:"cameraOffOnEntry"`
	Chat             bool   `json:"chat"`
	ScreenShare      string `json:"screenShare"` // "all" or "hosts"
	Unmute           string `json:"unmute"`      // "allowed" or "blocked"
	Spotlight        string `json:"spotlight"`
	MaxParticipants  int    `json:"maxParticipants"`
}

// Data topics of the server's own messages to the app.
const (
	topicSettings = "hop.meeting"
	topicNotice   = "hop.notice"
	topicLobby    = "hop.lobby"
)

// defaultLobbyWait is how long a knock waits for a host before it is told nobody answered, unless
// the node is configured otherwise (room.lobby_wait).
const defaultLobbyWait = 10 * time.Minute

// Errors of meeting control; the control API maps them to HTTP statuses.
var (
	ErrForbidden     = errors.New("forbidden")
	ErrBadRequest    = errors.New("bad request")
	ErrLobbyDenied   = errors.New("lobby_denied")
	ErrLobbyTimeout  = errors.New("lobby_timeout")
	ErrTicketUnknown = errors.New("ticket_unknown")
)

// Actor is who asks for a meeting-control action.
type Actor struct {
	Identity string
	Name     string
	// Admin: the token has roomAdmin for the room (an operator, or the meeting's creator).
	Admin bool
	Addr  string
}

// ControlRequest is one meeting-control action (see the README's meeting control section).
type ControlRequest struct {
	Action   string `json:"action"`
	Identity string `json:"identity,omitempty"`
	Source   string `json:"source,omitempty"`
	Block    bool   `json:"block,omitempty"`
	Bar      bool   `json:"bar,omitempty"`
	Role     string `json:"role,omitempty"`
	On       bool   `json:"on,omitempty"`
	Name     string `json:"name,omitempty"`
	ID       string `json:"id,omitempty"`
	// settings
	Lobby            *bool   `json:"lobby,omitempty"`
	Password         *string `json:"password,omitempty"`
	MuteOnEntry      *bool   `json:"muteOnEntry,omitempty"`
	CameraOffOnEntry *bool   `json:"cameraOffOnEntry,omitempty"`
	Chat             *bool   `json:"chat,omitempty"`
	ScreenShareMode  *string `json:"screenShare,omitempty"`
	MaxParticipants  *int    `json:"maxParticipants,omitempty"`
}

// control is a room's meeting rules, its lobby and its log.
type control struct {
	mu       sync.Mutex
	settings Settings
	salt     [16]byte
	password [32]byte // sha256(salt, password) when settings.HasPassword
	barred   map[string]bool
	waiting  []*knock
	// tickets keeps knocks, decided ones too, until a while after the lobby's limit, so that a
	// decision reaches the page's next poll.
	tickets map[string]*knock
	// firstTrack records, per participant SID, the sources muted on entry already.
	entered map[string]map[livekit.TrackSource]bool
	log     meetingLog
}

// knock is someone waiting in the lobby.
type knock struct {
	id       string
	identity string
	name     string
	addr     string
	since    time.Time
	// polled is when the waiting page last asked (Unix ns): a page that stopped asking has gone.
	polled atomic.Int64
	// decided is closed once a host (or the time limit) decided; outcome says how.
	decided chan struct{}
	outcome string
	once    sync.Once
}

func (c *control) init() {
	c.settings = Settings{Chat: true, ScreenShare: "all", Unmute: "allowed"}
	c.barred = map[string]bool{}
	c.tickets = map[string]*knock{}
	c.entered = map[string]map[livekit.TrackSource]bool{}
	_, _ = rand.Read(c.salt[:])
}

func (c *control) hash(pw string) [32]byte {
	h := sha256.New()
	h.Write(c.salt[:])
	h.Write([]byte(pw))
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Settings returns the meeting's rules.
func (r *Room) Settings() Settings {
	r.ctl.mu.Lock()
	defer r.ctl.mu.Unlock()
	s := r.ctl.settings
	r.mu.RLock()
	s.MaxParticipants = r.opts.maxParticipants
	r.mu.RUnlock()
	return s
}

// Log returns the meeting's log, oldest first.
func (r *Room) Log() []LogEntry { return r.ctl.log.list() }

func (r *Room) logEvent(e LogEntry) { r.ctl.log.add(e) }

// CheckPassword reports whether pw opens the meeting (true when it has none).
func (r *Room) CheckPassword(pw string) bool {
	r.ctl.mu.Lock()
	defer r.ctl.mu.Unlock()
	if !r.ctl.settings.HasPassword {
		return true
	}
	h := r.ctl.hash(pw)
	return subtle.ConstantTimeCompare(h[:], r.ctl.password[:]) == 1
}

// joinRefusal is why a non-moderator may not join now ("" if it may).
func (r *Room) joinRefusal(identity string, role Role) string {
	r.ctl.mu.Lock()
	defer r.ctl.mu.Unlock()
	if r.ctl.barred[identity] {
		return "you were removed from this meeting"
	}
	if r.ctl.settings.Locked && !role.canModerate() {
		return "meeting is locked"
	}
	return ""
}

// CanControl reports whether a is allowed to run this meeting.
func (r *Room) CanControl(a Actor) bool {
	if a.Admin {
		return true
	}
	p := r.Participant(a.Identity)
	return p != nil && p.role().canModerate()
}

// moderators are the participants who run the meeting.
func (r *Room) moderators() []*Participant {
	var out []*Participant
	for _, p := range r.Participants() {
		if p.role().canModerate() {
			out = append(out, p)
		}
	}
	return out
}

// sendControl sends a server message to participants as a reliable data packet on topic.
func (r *Room) sendControl(to []*Participant, topic string, v any) {
	payload, err := json.Marshal(v)
	if err != nil {
		return
	}
	b, err := proto.Marshal(&livekit.DataPacket{
		Kind:  livekit.DataPacket_RELIABLE, //nolint:staticcheck // for older clients
		Value: &livekit.DataPacket_User{User: &livekit.UserPacket{Payload: payload, Topic: &topic}},
	})
	if err != nil {
		return
	}
	for _, p := range to {
		p.sendData(livekit.DataPacket_RELIABLE, b)
	}
}

type notice struct {
	Code   string `json:"code"`
	By     string `json:"by,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func (r *Room) notify(p *Participant, code, by string) {
	r.sendControl([]*Participant{p}, topicNotice, notice{Code: code, By: by})
}

func (r *Room) broadcastSettings() { r.sendControl(r.Participants(), topicSettings, r.Settings()) }

// LobbyEntry is someone waiting in the lobby, as hosts see them.
type LobbyEntry struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Since int64  `json:"since"`
}

// Waiting lists who waits in the lobby, oldest first.
func (r *Room) Waiting() []LobbyEntry {
	r.ctl.mu.Lock()
	defer r.ctl.mu.Unlock()
	out := make([]LobbyEntry, 0, len(r.ctl.waiting))
	for _, k := range r.ctl.waiting {
		if k.gone() {
			continue
		}
		out = append(out, LobbyEntry{ID: k.id, Name: k.name, Since: k.since.UnixMilli()})
	}
	return out
}

func (r *Room) broadcastLobby() {
	r.sendControl(r.moderators(), topicLobby, map[string]any{"waiting": r.Waiting()})
}

// welcome gives a participant whose data channel just opened what it must know: the meeting's
// rules, the lobby (for those who run it), and the chat so far.
func (r *Room) welcome(p *Participant) {
	r.sendControl([]*Participant{p}, topicSettings, r.Settings())
	if p.role().canModerate() {
		r.sendControl([]*Participant{p}, topicLobby, map[string]any{"waiting": r.Waiting()})
	}
	r.replayChat(p)
}

// RosterEntry is a participant as the meeting's hosts see them.
type RosterEntry struct {
	Identity string `json:"identity"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Stage    bool   `json:"stage"`
	// Hand is when the hand went up (Unix ms; 0: down).
	Hand int64 `json:"hand"`
}

// Roster lists the participants, by join time (hidden ones left out).
func (r *Room) Roster() []RosterEntry {
	var out []RosterEntry
	for _, p := range r.Participants() {
		if p.hidden() {
			continue
		}
		p.mu.Lock()
		e := RosterEntry{Identity: p.identity, Name: p.name, Role: p.roleLocked(), Stage: p.onStageLocked()}
		e.Hand, _ = strconv.ParseInt(p.attributes[attrHand], 10, 64)
		p.mu.Unlock()
		out = append(out, e)
	}
	return out
}

// Admission is what the meeting says to someone about to join with role.
type Admission int

// Admissions.
const (
	Admit Admission = iota
	// Wait: the lobby is on; knock and await a host.
	Wait
	RefuseLocked
	RefuseBarred
	RefuseFull
	PasswordRequired
	PasswordWrong
)

// Admission applies the meeting's gates to a joiner: bar, lock, cap, password, lobby. Those
// who run the meeting pass the lock, the password and the lobby.
func (r *Room) Admission(identity string, role Role, password string) Admission {
	r.ctl.mu.Lock()
	barred, locked, lobby, hasPW := r.ctl.barred[identity], r.ctl.settings.Locked, r.ctl.settings.Lobby, r.ctl.settings.HasPassword
	r.ctl.mu.Unlock()
	switch {
	case barred:
		return RefuseBarred
	case role.canModerate():
		return Admit
	case locked:
		return RefuseLocked
	case r.full(identity):
		return RefuseFull
	case hasPW && password == "":
		return PasswordRequired
	case hasPW && !r.CheckPassword(password):
		return PasswordWrong
	case lobby:
		return Wait
	}
	return Admit
}

// full reports whether the room has no place for identity now.
func (r *Room) full(identity string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.opts.maxParticipants <= 0 {
		return false
	}
	n := 0
	for id, q := range r.participants {
		if id != identity && !q.hidden() {
			n++
		}
	}
	return n >= r.opts.maxParticipants
}

// LobbyOn reports whether joiners who do not run the meeting wait for admission.
func (r *Room) LobbyOn() bool {
	r.ctl.mu.Lock()
	defer r.ctl.mu.Unlock()
	return r.ctl.settings.Lobby
}

// Knock puts someone in the lobby and returns the ticket to await a host's decision with.
func (r *Room) Knock(identity, name, addr string) string {
	var id [12]byte
	_, _ = rand.Read(id[:])
	k := &knock{id: base64.RawURLEncoding.EncodeToString(id[:]), identity: identity, name: name, addr: addr,
		since: time.Now(), decided: make(chan struct{})}
	r.ctl.mu.Lock()
	for id, old := range r.ctl.tickets {
		if time.Since(old.since) > r.env.lobbyWait+time.Minute {
			delete(r.ctl.tickets, id)
		}
	}
	r.ctl.waiting = append(r.ctl.waiting, k)
	r.ctl.tickets[k.id] = k
	r.ctl.mu.Unlock()
	r.logEvent(LogEntry{Actor: identity, Action: "knock", Detail: name, Addr: addr})
	r.broadcastLobby()
	return k.id
}

func (r *Room) findKnock(id string) *knock {
	r.ctl.mu.Lock()
	defer r.ctl.mu.Unlock()
	return r.ctl.tickets[id]
}

// Await waits up to wait for a host's decision on a ticket: nil when admitted, ErrLobbyDenied,
// ErrLobbyTimeout once nobody answered within the lobby's limit, context.DeadlineExceeded when
// the caller should ask again.
func (r *Room) Await(ctx context.Context, ticket string, wait time.Duration) error {
	k := r.findKnock(ticket)
	if k == nil {
		return ErrTicketUnknown
	}
	if left := r.env.lobbyWait - time.Since(k.since); left <= 0 {
		r.decide(k, "timeout", Actor{})
	} else if wait > left {
		wait = left
	}
	k.polled.Store(time.Now().UnixNano())
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-k.decided:
	case <-t.C:
		if time.Since(k.since) < r.env.lobbyWait {
			return context.DeadlineExceeded
		}
		r.decide(k, "timeout", Actor{})
	case <-ctx.Done():
		return ctx.Err()
	}
	switch k.outcome {
	case "admit":
		return nil
	case "deny":
		return ErrLobbyDenied
	}
	return ErrLobbyTimeout
}

// knockGone is how long a waiting page may go without asking before it counts as gone (it asks
// again at most every lobbyPoll, 25 s).
const knockGone = time.Minute

func (k *knock) gone() bool {
	last := k.polled.Load()
	if last == 0 {
		last = k.since.UnixNano()
	}
	return time.Since(time.Unix(0, last)) > knockGone
}

// Withdraw takes someone out of the lobby who left it (the waiting page's "leave").
func (r *Room) Withdraw(ticket string) error {
	k := r.findKnock(ticket)
	if k == nil {
		return ErrTicketUnknown
	}
	r.decide(k, "withdraw", Actor{Identity: k.identity})
	return nil
}

func (k *knock) isDecided() bool {
	select {
	case <-k.decided:
		return true
	default:
		return false
	}
}

// decide settles a knock (admit, deny or timeout) and takes it out of the queue.
func (r *Room) decide(k *knock, action string, a Actor) {
	k.once.Do(func() {
		k.outcome = action
		close(k.decided)
		r.ctl.mu.Lock()
		for i, w := range r.ctl.waiting {
			if w == k {
				r.ctl.waiting = append(r.ctl.waiting[:i], r.ctl.waiting[i+1:]...)
				break
			}
		}
		r.ctl.mu.Unlock()
		r.logEvent(LogEntry{Actor: a.Identity, Action: action, Target: k.identity, Detail: k.name, Addr: k.addr})
		r.broadcastLobby()
	})
}

// Act carries out a meeting-control action for a, checking that a may.
func (r *Room) Act(a Actor, req ControlRequest) error {
	if !r.CanControl(a) {
		return ErrForbidden
	}
	actorRole := RoleHost
	if !a.Admin {
		actorRole = r.Participant(a.Identity).role()
	}
	target := func() (*Participant, error) {
		if req.Identity == "" {
			return nil, ErrBadRequest
		}
		if p := r.Participant(req.Identity); p != nil {
			return p, nil
		}
		return nil, ErrParticipantNotFound
	}
	by := a.Name
	log := func(target, detail string) {
		r.logEvent(LogEntry{Actor: a.Identity, Action: req.Action, Target: target, Detail: detail, Addr: a.Addr})
	}
	switch req.Action {
	case "mute":
		p, err := target()
		if err != nil {
			return err
		}
		src := livekit.TrackSource_MICROPHONE
		code := "muted-mic"
		if req.Source == "camera" {
			src, code = livekit.TrackSource_CAMERA, "muted-camera"
		}
		p.muteSource(src)
		r.notify(p, code, by)
		log(p.identity, req.Source)
	case "mute-all":
		for _, p := range r.Participants() {
			if p.identity == a.Identity || p.role().canModerate() {
				continue
			}
			p.muteSource(livekit.TrackSource_MICROPHONE)
			r.notify(p, "muted-mic", by)
		}
		if req.Block {
			r.setUnmute("blocked")
		}
		log("", map[bool]string{true: "block", false: ""}[req.Block])
	case "allow-unmute":
		r.setUnmute("allowed")
		for _, p := range r.Participants() {
			if !p.role().canModerate() {
				r.notify(p, "unmute-allowed", by)
			}
		}
		log("", "")
	case "ask-unmute":
		p, err := target()
		if err != nil {
			return err
		}
		r.notify(p, "ask-unmute", by)
		log(p.identity, "")
	case "stop-screenshare":
		p, err := target()
		if err != nil {
			return err
		}
		for _, t := range p.publishedTracks() {
			if s := t.info.Load().Source; s == livekit.TrackSource_SCREEN_SHARE || s == livekit.TrackSource_SCREEN_SHARE_AUDIO {
				p.unpublish(t.sid(), true)
			}
		}
		r.notify(p, "screenshare-stopped", by)
		log(p.identity, "")
	case "remove":
		p, err := target()
		if err != nil {
			return err
		}
		if p.role() == RoleHost && actorRole != RoleHost {
			return ErrForbidden
		}
		if req.Bar {
			r.ctl.mu.Lock()
			r.ctl.barred[p.identity] = true
			r.ctl.mu.Unlock()
		}
		log(p.identity, map[bool]string{true: "bar", false: ""}[req.Bar])
		p.close(livekit.DisconnectReason_PARTICIPANT_REMOVED, true)
	case "record":
		if err := r.recordMeeting(req.On); err != nil {
			return err
		}
		log("", map[bool]string{true: "on", false: "off"}[req.On])
	case "lock", "unlock":
		r.ctl.mu.Lock()
		r.ctl.settings.Locked = req.Action == "lock"
		r.ctl.mu.Unlock()
		log("", "")
		r.broadcastSettings()
	case "end":
		if actorRole != RoleHost {
			return ErrForbidden
		}
		log("", "")
		go r.Close(livekit.DisconnectReason_ROOM_DELETED)
	case "set-role":
		p, err := target()
		if err != nil {
			return err
		}
		role, ok := ParseRole(req.Role)
		if !ok {
			return ErrBadRequest
		}
		if actorRole != RoleHost && (role == RoleHost || p.role() == RoleHost) {
			return ErrForbidden
		}
		p.setRole(role, false)
		r.notify(p, "role-"+string(role), by)
		if role == RoleHost && !a.Admin && a.Identity != p.identity {
			// Handing over the chair: the old chair stays as co-host.
			if me := r.Participant(a.Identity); me != nil {
				me.setRole(RoleCohost, false)
				r.notify(me, "role-cohost", by)
			}
		}
		if role.canModerate() {
			r.sendControl([]*Participant{p}, topicLobby, map[string]any{"waiting": r.Waiting()})
		}
		log(p.identity, string(role))
	case "stage":
		p, err := target()
		if err != nil {
			return err
		}
		if p.role() != RoleViewer {
			return ErrBadRequest
		}
		p.setRole(RoleViewer, req.On)
		r.notify(p, map[bool]string{true: "on-stage", false: "off-stage"}[req.On], by)
		log(p.identity, map[bool]string{true: "on", false: "off"}[req.On])
	case "spotlight":
		if req.Identity != "" && r.Participant(req.Identity) == nil {
			return ErrParticipantNotFound
		}
		r.ctl.mu.Lock()
		r.ctl.settings.Spotlight = req.Identity
		r.ctl.mu.Unlock()
		log(req.Identity, "")
		r.broadcastSettings()
	case "lower-hand":
		for _, p := range r.Participants() {
			if req.Identity != "" && p.identity != req.Identity {
				continue
			}
			if p.clearHand() {
				r.notify(p, "hand-lowered", by)
			}
		}
		log(req.Identity, "")
	case "rename":
		p, err := target()
		if err != nil {
			return err
		}
		name := strings.TrimSpace(req.Name)
		if name == "" {
			return ErrBadRequest
		}
		p.mu.Lock()
		err = p.applyDetailsLocked("", name, nil)
		p.mu.Unlock()
		if err != nil {
			return ErrBadRequest
		}
		p.changed()
		r.notify(p, "renamed", by)
		log(p.identity, name)
	case "settings":
		return r.changeSettings(a, req)
	case "admit", "deny":
		if req.ID == "all" && req.Action == "admit" {
			r.ctl.mu.Lock()
			all := append([]*knock(nil), r.ctl.waiting...)
			r.ctl.mu.Unlock()
			for _, k := range all {
				r.decide(k, "admit", a)
			}
			return nil
		}
		k := r.findKnock(req.ID)
		if k == nil || k.isDecided() {
			return ErrTicketUnknown
		}
		r.decide(k, req.Action, a)
	default:
		return ErrBadRequest
	}
	return nil
}

func (r *Room) setUnmute(mode string) {
	r.ctl.mu.Lock()
	r.ctl.settings.Unmute = mode
	r.ctl.mu.Unlock()
	r.broadcastSettings()
}

func (r *Room) changeSettings(a Actor, req ControlRequest) error {
	var changed []string
	r.ctl.mu.Lock()
	s := &r.ctl.settings
	if req.Lobby != nil {
		s.Lobby = *req.Lobby
		changed = append(changed, "lobby")
	}
	if req.Password != nil {
		s.HasPassword = *req.Password != ""
		if s.HasPassword {
			r.ctl.password = r.ctl.hash(*req.Password)
		}
		changed = append(changed, "password")
	}
	if req.MuteOnEntry != nil {
		s.MuteOnEntry = *req.MuteOnEntry
		changed = append(changed, "muteOnEntry")
	}
	if req.CameraOffOnEntry != nil {
		s.CameraOffOnEntry = *req.CameraOffOnEntry
		changed = append(changed, "cameraOffOnEntry")
	}
	if req.Chat != nil {
		s.Chat = *req.Chat
		changed = append(changed, "chat")
	}
	if req.ScreenShareMode != nil {
		if m := *req.ScreenShareMode; m != "all" && m != "hosts" {
			r.ctl.mu.Unlock()
			return ErrBadRequest
		}
		s.ScreenShare = *req.ScreenShareMode
		changed = append(changed, "screenShare")
	}
	lobbyOff := req.Lobby != nil && !*req.Lobby
	r.ctl.mu.Unlock()
	if req.MaxParticipants != nil {
		if *req.MaxParticipants < 0 {
			return ErrBadRequest
		}
		r.mu.Lock()
		r.opts.override(0, 0, uint32(*req.MaxParticipants))
		if *req.MaxParticipants == 0 {
			r.opts.maxParticipants = r.env.maxParticipants
		}
		r.mu.Unlock()
		changed = append(changed, "maxParticipants")
	}
	sort.Strings(changed)
	r.logEvent(LogEntry{Actor: a.Identity, Action: "settings", Detail: strings.Join(changed, ","), Addr: a.Addr})
	r.broadcastSettings()
	if lobbyOff {
		// Turning the lobby off lets in whoever waits.
		_ = r.Act(Actor{Identity: a.Identity, Admin: true, Addr: a.Addr}, ControlRequest{Action: "admit", ID: "all"})
	}
	return nil
}

// muteSource mutes the participant's tracks of a source: the client is told to mute, and
// everyone sees it muted.
func (p *Participant) muteSource(src livekit.TrackSource) {
	for _, t := range p.publishedTracks() {
		info := t.info.Load()
		if info.Source != src || info.Muted {
			continue
		}
		p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_Mute{Mute: &livekit.MuteTrackRequest{Sid: info.Sid, Muted: true}}})
		p.setTrackMuted(info.Sid, true)
	}
}

// clearHand lowers the participant's hand; false if it was not raised.
func (p *Participant) clearHand() bool {
	p.mu.Lock()
	if p.attributes[attrHand] == "" {
		p.mu.Unlock()
		return false
	}
	next := maps.Clone(p.attributes)
	delete(next, attrHand)
	p.attributes = next
	p.mu.Unlock()
	p.changed()
	return true
}

// mayUnmute reports whether the participant may unmute its microphone now.
func (r *Room) mayUnmute(p *Participant) bool {
	r.ctl.mu.Lock()
	blocked := r.ctl.settings.Unmute == "blocked"
	r.ctl.mu.Unlock()
	return !blocked || p.role().canModerate()
}

// chatAllowed reports whether the participant may send chat now.
func (r *Room) chatAllowed(p *Participant) bool {
	r.ctl.mu.Lock()
	on := r.ctl.settings.Chat
	r.ctl.mu.Unlock()
	return on || p.role().canModerate()
}

// screenShareAllowed reports whether the participant may share its screen now.
func (r *Room) screenShareAllowed(p *Participant) bool {
	r.ctl.mu.Lock()
	all := r.ctl.settings.ScreenShare != "hosts"
	r.ctl.mu.Unlock()
	return all || p.role().canModerate()
}

// mutedOnEntry reports whether a newly published track of the participant starts muted: the
// first microphone (or camera) a participant publishes, when the meeting says so.
func (r *Room) mutedOnEntry(p *Participant, src livekit.TrackSource) bool {
	if p.role().canModerate() {
		return false
	}
	r.ctl.mu.Lock()
	defer r.ctl.mu.Unlock()
	on := (src == livekit.TrackSource_MICROPHONE && (r.ctl.settings.MuteOnEntry || r.ctl.settings.Unmute == "blocked")) ||
		(src == livekit.TrackSource_CAMERA && r.ctl.settings.CameraOffOnEntry)
	if !on {
		return false
	}
	seen := r.ctl.entered[p.sid]
	if seen == nil {
		seen = map[livekit.TrackSource]bool{}
		r.ctl.entered[p.sid] = seen
	}
	if seen[src] && src != livekit.TrackSource_MICROPHONE {
		return false
	}
	seen[src] = true
	return true
}

func (r *Room) forgetEntered(sid string) {
	r.ctl.mu.Lock()
	delete(r.ctl.entered, sid)
	r.ctl.mu.Unlock()
}

// succession gives the chair on when the last host left: to the longest-present co-host, else
// to the longest-present participant who is not a viewer.
func (r *Room) succession(left *Participant, leftRole Role) {
	if leftRole != RoleHost {
		return
	}
	ps := r.Participants() // by join time
	var cohost, other *Participant
	for _, p := range ps {
		switch p.role() {
		case RoleHost:
			return
		case RoleCohost:
			if cohost == nil {
				cohost = p
			}
		case RoleParticipant:
			if other == nil {
				other = p
			}
		}
	}
	next := cohost
	if next == nil {
		next = other
	}
	if next == nil {
		return
	}
	next.setRole(RoleHost, false)
	r.notify(next, "role-host", "")
	r.sendControl([]*Participant{next}, topicLobby, map[string]any{"waiting": r.Waiting()})
	r.logEvent(LogEntry{Action: "succession", Target: next.identity, Detail: "after " + left.identity})
}
