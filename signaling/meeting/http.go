package meeting

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hop-meet/hop/internal/ratelimit"
	"github.com/hop-meet/hop/signaling/auth"
)

// Config configures the meeting endpoints.
type Config struct {
	// Keys are the node's API keys; invitations and join tokens are signed with the first in
	// sorted order, and checked against all.
	Keys map[string]string
	// Dev opens creating meetings, making invitations and joining by room name to anyone.
	Dev bool
	// TokenTTL is how long an exchanged join token is valid (default 6 h).
	TokenTTL time.Duration
	// InviteTTL is the lifetime of invitations made by the endpoints when none is asked
	// (default 24 h); MaxInviteTTL bounds what may be asked (default 30 days).
	InviteTTL    time.Duration
	MaxInviteTTL time.Duration
	// JoinBurst requests at once, then one every JoinEvery, per client address (default 10, 6 s;
	// negative: no limit, as when the node's rate limits are off).
	JoinBurst int
	JoinEvery time.Duration
	Logger    *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
	// Gate applies a meeting's own rules (bar, lock, cap, password, lobby) before a token is
	// made; nil admits everyone with a valid invitation.
	Gate Gate
}

// Gate is the meetings' rules as the exchange consults them.
type Gate interface {
	// Admission is one of the Admit*/Refuse* codes below for someone about to join room.
	Admission(room, identity string, role Role, password string) string
	// Knock puts someone in room's lobby and returns their ticket.
	Knock(room, identity, name, addr string) string
	// Await waits up to wait for a decision: nil admitted, ErrLobbyDenied, ErrLobbyTimeout,
	// context.DeadlineExceeded (ask again), ErrTicketUnknown.
	Await(ctx context.Context, room, ticket string, wait time.Duration) error
	// Withdraw takes a ticket out of the lobby: the person left it.
	Withdraw(room, ticket string) error
}

// Admission codes: Admit and Wait, else the refusal code the page translates.
const (
	Admit            = "admit"
	Wait             = "wait"
	RefuseLocked     = "meeting_locked"
	RefuseRemoved    = "removed"
	RefuseFull       = "meeting_full"
	PasswordRequired = "password_required"
	PasswordWrong    = "password_wrong"
)

// Lobby outcomes a Gate reports.
var (
	ErrLobbyDenied   = errors.New(codeLobbyDenied)
	ErrLobbyTimeout  = errors.New(codeLobbyTimeout)
	ErrTicketUnknown = errors.New(codeTicketUnknown)
)

// pendingJoin is an exchange waiting in a lobby: the token is made once a host admits it.
type pendingJoin struct {
	inv      Invite
	identity string
	name     string
	since    time.Time
}

// Service serves the meeting endpoints.
type Service struct {
	cfg Config
	// pending joins by lobby ticket.
	mu       sync.Mutex
	pending  map[string]*pendingJoin
	key      string
	secret   string
	verifier *auth.Verifier
	limit    *ratelimit.Limiter
}

// New makes the service.
func New(cfg Config) *Service {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 6 * time.Hour
	}
	if cfg.InviteTTL <= 0 {
		cfg.InviteTTL = 24 * time.Hour
	}
	if cfg.MaxInviteTTL <= 0 {
		cfg.MaxInviteTTL = 30 * 24 * time.Hour
	}
	if cfg.JoinBurst == 0 {
		cfg.JoinBurst = 10
	}
	if cfg.JoinEvery <= 0 {
		cfg.JoinEvery = 6 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg, verifier: auth.NewVerifier(cfg.Keys), limit: ratelimit.New(cfg.JoinBurst, cfg.JoinEvery),
		pending: map[string]*pendingJoin{}}
	s.key, s.secret = SigningKey(cfg.Keys)
	return s
}

// SigningKey picks the key invitations are signed with: the first in sorted order, so every
// node of a deployment with the same keys picks the same one.
func SigningKey(keys map[string]string) (string, string) {
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "", ""
	}
	return names[0], keys[names[0]]
}

// Register adds the endpoints to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/config", s.serveConfig)
	mux.HandleFunc("POST /api/meetings", s.limited(s.serveCreate))
	mux.HandleFunc("POST /api/invites", s.limited(s.serveInvite))
	mux.HandleFunc("POST /api/join", s.limited(s.serveJoin))
	mux.HandleFunc("GET /api/lobby/{ticket}", s.serveLobby)
	mux.HandleFunc("DELETE /api/lobby/{ticket}", s.serveLeaveLobby)
}

// apiError is what every refusal looks like: a code the page translates, never server text.
type apiError struct {
	Error string `json:"error"`
}

// Error codes the page translates.
const (
	codeBadRequest      = "bad_request"
	codeNameRequired    = "name_required"
	codeRoomInvalid     = "room_invalid"
	codeInviteRequired  = "invite_required"
	codeUnauthorized    = "unauthorized"
	codeForbidden       = "forbidden"
	codeRateLimited     = "rate_limited"
	codeRoleInvalid     = "role_invalid"
	codeExpiresInvalid  = "expires_invalid"
	codeInternal        = "internal"
	codeLobbyDenied     = "lobby_denied"
	codeLobbyTimeout    = "lobby_timeout"
	codeTicketUnknown   = "ticket_unknown"
	maxRequestBodyBytes = 8 << 10
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, apiError{Error: code})
}

// limited refuses a client address that asks too often, with the time until it may ask again.
func (s *Service) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.limit.Allow(ratelimit.ClientIP(r), s.cfg.Now()); !ok && s.cfg.JoinBurst > 0 {
			w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
			fail(w, http.StatusTooManyRequests, codeRateLimited)
			return
		}
		h(w, r)
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBodyBytes)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		fail(w, http.StatusBadRequest, codeBadRequest)
		return false
	}
	return true
}

// bearer verifies the request's Authorization token; nil when there is none or it is invalid.
func (s *Service) bearer(r *http.Request) *auth.Grants {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return nil
	}
	g, err := s.verifier.Verify(tok)
	if err != nil {
		return nil
	}
	return g
}

func (s *Service) serveConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"dev": s.cfg.Dev})
}

type createRequest struct {
	// Room is an optional meeting name; empty makes a fresh code.
	Room string `json:"room"`
}

type createResponse struct {
	Room       string `json:"room"`
	HostInvite string `json:"hostInvite"`
	Invite     string `json:"invite"`
	Expires    int64  `json:"expires"`
}

// serveCreate makes a meeting: a room name and invitations for its host and participants.
// Open in development; otherwise it needs a token with roomCreate.
func (s *Service) serveCreate(w http.ResponseWriter, r *http.Request) {
	if !s.cfg.Dev {
		g := s.bearer(r)
		if g == nil {
			fail(w, http.StatusUnauthorized, codeUnauthorized)
			return
		}
		if g.Video == nil || !g.Video.RoomCreate {
			fail(w, http.StatusForbidden, codeForbidden)
			return
		}
	}
	var req createRequest
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	room := NormalizeRoom(req.Room)
	if room == "" {
		room = NewCode()
	}
	if !ValidRoom(room) {
		fail(w, http.StatusBadRequest, codeRoomInvalid)
		return
	}
	exp := s.cfg.Now().Add(s.cfg.InviteTTL)
	host, err1 := Invite{Room: room, Role: Host, Expires: exp}.Sign(s.key, s.secret)
	part, err2 := Invite{Room: room, Role: Participant, Expires: exp}.Sign(s.key, s.secret)
	if err := errors.Join(err1, err2); err != nil {
		fail(w, http.StatusInternalServerError, codeInternal)
		return
	}
	s.cfg.Logger.Info("meeting created", "room", room)
	writeJSON(w, http.StatusOK, createResponse{Room: room, HostInvite: host, Invite: part, Expires: exp.Unix()})
}

type inviteRequest struct {
	Room string `json:"room"`
	Role string `json:"role"`
	// ExpiresIn is the invitation's lifetime in seconds (0: the default).
	ExpiresIn int64 `json:"expiresIn"`
}

type inviteResponse struct {
	Room    string `json:"room"`
	Role    Role   `json:"role"`
	Invite  string `json:"invite"`
	Expires int64  `json:"expires"`
}

// serveInvite makes an invitation to a room. It needs a token with roomCreate, or roomAdmin for
// that room (a host in the meeting); in development anyone may invite participants and viewers.
func (s *Service) serveInvite(w http.ResponseWriter, r *http.Request) {
	var req inviteRequest
	if !decode(w, r, &req) {
		return
	}
	room := NormalizeRoom(req.Room)
	if !ValidRoom(room) {
		fail(w, http.StatusBadRequest, codeRoomInvalid)
		return
	}
	role := Participant
	if req.Role != "" {
		var ok bool
		if role, ok = ParseRole(req.Role); !ok {
			fail(w, http.StatusBadRequest, codeRoleInvalid)
			return
		}
	}
	ttl := s.cfg.InviteTTL
	if req.ExpiresIn != 0 {
		// Compared in seconds first: a huge count would overflow the duration.
		if req.ExpiresIn < 0 || req.ExpiresIn > int64(s.cfg.MaxInviteTTL/time.Second) {
			fail(w, http.StatusBadRequest, codeExpiresInvalid)
			return
		}
		ttl = time.Duration(req.ExpiresIn) * time.Second
	}
	g := s.bearer(r)
	allowed := g != nil && g.Video != nil && (g.Video.RoomCreate || g.IsAdmin(room) && g.Video.Room == room)
	if !allowed && !(s.cfg.Dev && role != Host) {
		if g == nil {
			fail(w, http.StatusUnauthorized, codeUnauthorized)
		} else {
			fail(w, http.StatusForbidden, codeForbidden)
		}
		return
	}
	exp := s.cfg.Now().Add(ttl)
	inv, err := Invite{Room: room, Role: role, Expires: exp}.Sign(s.key, s.secret)
	if err != nil {
		fail(w, http.StatusInternalServerError, codeInternal)
		return
	}
	writeJSON(w, http.StatusOK, inviteResponse{Room: room, Role: role, Invite: inv, Expires: exp.Unix()})
}

type joinRequest struct {
	Invite string `json:"invite"`
	// Room joins by name without an invitation (development only).
	Room string `json:"room"`
	Name string `json:"name"`
	// Password opens a meeting that has one.
	Password string `json:"password,omitempty"`
	// Device is a random key the browser keeps (localStorage): the same browser under the same
	// name gets the same identity, so a host's bar holds across rejoins.
	Device string `json:"device,omitempty"`
}

type joinResponse struct {
	// Status is "admitted" when the answer ends a wait in the lobby.
	Status   string `json:"status,omitempty"`
	Token    string `json:"token"`
	URL      string `json:"url"`
	Room     string `json:"room"`
	Role     Role   `json:"role"`
	Identity string `json:"identity"`
}

// serveJoin exchanges an invitation (or, in development, a room name) and a display name for a
// join token. The token is in the response body only: never in a URL, never logged.
func (s *Service) serveJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if !decode(w, r, &req) {
		return
	}
	name := CleanName(req.Name)
	if name == "" {
		fail(w, http.StatusBadRequest, codeNameRequired)
		return
	}
	var inv Invite
	switch {
	case req.Invite != "":
		var err error
		inv, err = VerifyInvite(s.cfg.Keys, req.Invite, s.cfg.Now())
		if err != nil {
			s.cfg.Logger.Info("invitation refused", "reason", err.Error())
			fail(w, http.StatusForbidden, err.Error())
			return
		}
	case s.cfg.Dev:
		inv = Invite{Room: NormalizeRoom(req.Room), Role: Participant}
		if !ValidRoom(inv.Room) {
			fail(w, http.StatusBadRequest, codeRoomInvalid)
			return
		}
	default:
		fail(w, http.StatusForbidden, codeInviteRequired)
		return
	}
	identity := identityFor(name)
	if d := strings.TrimSpace(req.Device); len(d) >= 16 && len(d) <= 128 {
		mac := hmac.New(sha256.New, []byte(s.secret))
		mac.Write([]byte(inv.Room + "\x00" + d + "\x00" + name))
		identity = identityWith(name, mac.Sum(nil))
	}
	if s.cfg.Gate != nil {
		switch code := s.cfg.Gate.Admission(inv.Room, identity, inv.Role, req.Password); code {
		case Admit:
		case Wait:
			ticket := s.cfg.Gate.Knock(inv.Room, identity, name, r.RemoteAddr)
			s.mu.Lock()
			for t, p := range s.pending {
				if s.cfg.Now().Sub(p.since) > time.Hour {
					delete(s.pending, t)
				}
			}
			s.pending[ticket] = &pendingJoin{inv: inv, identity: identity, name: name, since: s.cfg.Now()}
			s.mu.Unlock()
			s.cfg.Logger.Info("waiting in the lobby", "room", inv.Room, "identity", identity)
			writeJSON(w, http.StatusAccepted, map[string]string{"status": "waiting", "ticket": ticket})
			return
		default:
			s.cfg.Logger.Info("join refused by the meeting", "room", inv.Room, "identity", identity, "why", code)
			fail(w, http.StatusForbidden, code)
			return
		}
	}
	s.issue(w, r, inv, identity, name, "")
}

// issue answers with a join token for identity.
func (s *Service) issue(w http.ResponseWriter, r *http.Request, inv Invite, identity, name, status string) {
	tok, err := JoinToken(s.key, s.secret, inv, identity, name, s.cfg.TokenTTL)
	if err != nil {
		fail(w, http.StatusInternalServerError, codeInternal)
		return
	}
	scheme := "ws://"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "wss://"
	}
	s.cfg.Logger.Info("invitation exchanged", "room", inv.Room, "role", inv.Role, "identity", identity)
	writeJSON(w, http.StatusOK, joinResponse{Status: status, Token: tok, URL: scheme + r.Host, Room: inv.Room, Role: inv.Role, Identity: identity})
}

// lobbyPoll bounds one long poll of a waiting page.
const lobbyPoll = 25 * time.Second

// serveLeaveLobby takes a waiting page out of the lobby when the person leaves it.
func (s *Service) serveLeaveLobby(w http.ResponseWriter, r *http.Request) {
	ticket := r.PathValue("ticket")
	s.mu.Lock()
	p := s.pending[ticket]
	delete(s.pending, ticket)
	s.mu.Unlock()
	if p == nil || s.cfg.Gate == nil {
		fail(w, http.StatusNotFound, codeTicketUnknown)
		return
	}
	_ = s.cfg.Gate.Withdraw(p.inv.Room, ticket)
	writeJSON(w, http.StatusOK, map[string]string{"status": "left"})
}

// serveLobby is a waiting page's long poll: the token once a host admits it.
func (s *Service) serveLobby(w http.ResponseWriter, r *http.Request) {
	ticket := r.PathValue("ticket")
	s.mu.Lock()
	p := s.pending[ticket]
	s.mu.Unlock()
	if p == nil || s.cfg.Gate == nil {
		fail(w, http.StatusNotFound, codeTicketUnknown)
		return
	}
	switch err := s.cfg.Gate.Await(r.Context(), p.inv.Room, ticket, lobbyPoll); {
	case err == nil:
		s.mu.Lock()
		delete(s.pending, ticket)
		s.mu.Unlock()
		s.issue(w, r, p.inv, p.identity, p.name, "admitted")
	case errors.Is(err, context.DeadlineExceeded):
		writeJSON(w, http.StatusOK, map[string]string{"status": "waiting"})
	case errors.Is(err, ErrLobbyDenied):
		fail(w, http.StatusForbidden, codeLobbyDenied)
	case errors.Is(err, ErrLobbyTimeout):
		fail(w, http.StatusGone, codeLobbyTimeout)
	case errors.Is(err, context.Canceled):
		// the page went away
	default:
		fail(w, http.StatusNotFound, codeTicketUnknown)
	}
}
