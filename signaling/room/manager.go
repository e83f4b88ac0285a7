// Package room holds meeting semantics: rooms, participants, their published tracks and
// subscriptions, permissions and data messages. It speaks LiveKit's protobuf types (the meeting's
// wire model) to sessions, drives the SFU, and knows nothing of websockets.
package room

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/routing"
)

// ServerVersion is what Hop reports to clients. LiveKit clients gate features on the server version,
// so it names the LiveKit server release whose protocol Hop speaks.
const (
	ServerVersion  = "1.9.4"
	ProtocolVer    = 17
	pingInterval   = 5  // seconds
	pingTimeout    = 15 // seconds
	resumeWindow   = 15 * time.Second
	connectTimeout = 30 * time.Second
)

// JoinError is a refused join with the disconnect reason and HTTP status a client should see.
type JoinError struct {
	Reason livekit.DisconnectReason
	Status int
	Msg    string
}

func (e *JoinError) Error() string { return e.Msg }

// DisconnectReason lets the websocket layer tell the client why.
func (e *JoinError) DisconnectReason() livekit.DisconnectReason { return e.Reason }

// Unwrap exposes the HTTP status through auth.Error for the validate endpoint.
func (e *JoinError) Unwrap() error { return &auth.Error{Status: e.Status, Reason: e.Msg} }

// Manager hosts this node's rooms. It implements routing.Host.
type Manager struct {
	cfg      Config
	env      *env
	registry routing.RoomRegistry
	log      *slog.Logger

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
	// wg counts participants' goroutines, so that Close returns once they are all gone.
	wg           sync.WaitGroup
	fullRefusals atomic.Uint64
}

// NewManager makes a room manager on a media engine (SFUMedia for the node's SFU).
func NewManager(cfg Config, media Media, registry routing.RoomRegistry) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NodeID == "" {
		cfg.NodeID = guid.New(guid.NodePrefix)
	}
	m := &Manager{
		cfg:      cfg,
		registry: registry,
		log:      cfg.Logger.With("component", "room"),
		rooms:    map[string]*Room{},
	}
	m.env = &env{
		media:           media,
		limits:          cfg.Limits,
		resumeWindow:    cfg.ResumeWindow,
		lobbyWait:       cmp.Or(cfg.LobbyWait, defaultLobbyWait),
		nodeID:          cfg.NodeID,
		region:          cfg.Region,
		iceServers:      cfg.ICEServers,
		group:           &m.wg,
		maxParticipants: cfg.MaxParticipants,
		fullRefusals:    &m.fullRefusals,
	}
	return m
}

// participantCount is how many participants all rooms hold.
func (m *Manager) participantCount() int {
	n := 0
	for _, r := range m.Rooms() {
		n += r.size()
	}
	return n
}

// FullRefusals counts joins refused because their room (or the node) was full.
func (m *Manager) FullRefusals() uint64 { return m.fullRefusals.Load() }

// NodeID is the node the manager's rooms live on.
func (m *Manager) NodeID() string { return m.cfg.NodeID }

var _ routing.Host = (*Manager)(nil)

// Room returns a room by name, or nil.
func (m *Manager) Room(name string) *Room {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rooms[name]
}

// Rooms lists the open rooms.
func (m *Manager) Rooms() []*Room {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		out = append(out, r)
	}
	return out
}

// CheckJoin implements routing.Host.
func (m *Manager) CheckJoin(_ context.Context, p *routing.JoinParams) error {
	m.mu.Lock()
	closed := m.closed
	r := m.rooms[p.Room]
	m.mu.Unlock()
	if closed {
		return &JoinError{Reason: livekit.DisconnectReason_SERVER_SHUTDOWN, Status: http.StatusServiceUnavailable, Msg: "server is shutting down"}
	}
	if n := m.cfg.NodeParticipants; n > 0 && !p.Reconnect && m.participantCount() >= n {
		m.fullRefusals.Add(1)
		return &JoinError{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusServiceUnavailable,
			Msg: fmt.Sprintf("this server is full (at most %d participants)", n)}
	}
	if r == nil {
		if p.Reconnect {
			return &JoinError{Reason: livekit.DisconnectReason_STATE_MISMATCH, Status: http.StatusNotFound, Msg: "requested room does not exist"}
		}
		if !m.cfg.AutoCreate {
			return &JoinError{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusNotFound, Msg: "requested room does not exist"}
		}
		return nil
	}
	return r.checkJoin(p)
}

// StartSession implements routing.Host.
func (m *Manager) StartSession(ctx context.Context, p *routing.JoinParams) (routing.Session, error) {
	if err := m.CheckJoin(ctx, p); err != nil {
		return nil, err
	}
	r, created, err := m.getOrCreate(p.Room, p.Grants)
	if err != nil {
		return nil, err
	}
	if created {
		r.opened()
	}
	if created && p.Grants != nil && p.Grants.GetRoomConfiguration().GetEgress().GetRoom() != nil {
		// A room made to be recorded (LiveKit's room configuration with a room egress) is
		// recorded from its start, whoever joins first.
		if err := r.recordMeeting(true); err != nil {
			m.log.Warn("recording a new room as its configuration asks failed", "room", r.name, "err", err)
		}
	}
	if p.Reconnect && p.ParticipantSID != "" {
		return r.resume(p)
	}
	return r.join(p)
}

func (m *Manager) getOrCreate(name string, g *auth.Grants) (r *Room, created bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, false, &JoinError{Reason: livekit.DisconnectReason_SERVER_SHUTDOWN, Status: http.StatusServiceUnavailable, Msg: "server is shutting down"}
	}
	if r := m.rooms[name]; r != nil && !r.isClosed() {
		return r, false, nil
	}
	if !m.cfg.AutoCreate {
		return nil, false, &JoinError{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusNotFound, Msg: "requested room does not exist"}
	}
	opts := optionsFrom(&m.cfg)
	if g != nil && g.RoomConfig != nil {
		rc := g.GetRoomConfiguration()
		opts.override(rc.EmptyTimeout, rc.DepartureTimeout, rc.MaxParticipants)
	}
	r = newRoom(m.env, m.log, name, opts, m.roomClosed)
	m.rooms[name] = r
	m.log.Info("room created", "room", name, "sid", r.sid, "maxParticipants", opts.maxParticipants)
	return r, true, nil
}

// roomClosed forgets a room that closed itself.
func (m *Manager) roomClosed(r *Room) {
	m.mu.Lock()
	current := m.rooms[r.name] == r
	if current {
		delete(m.rooms, r.name)
	}
	m.mu.Unlock()
	// A room of the same name made here since (a join while this one was closing) keeps the
	// name's claim.
	if m.registry != nil && current {
		ctx := context.Background()
		if err := m.registry.Release(ctx, r.name, m.cfg.NodeID); err != nil {
			m.log.Warn("release room", "room", r.name, "err", err)
		}
		// A join during the release made the room anew here, under the claim just released: claim
		// it again, and if another node took the name meanwhile, send its participants there.
		if again := m.Room(r.name); again != nil {
			if host, err := m.registry.Claim(ctx, r.name, m.cfg.NodeID); err != nil || host != m.cfg.NodeID {
				m.log.Warn("a room made while its name was released is hosted elsewhere; moving it", "room", r.name, "host", host, "err", err)
				again.Move()
			}
		}
	}
	m.log.Info("room closed", "room", r.name, "sid", r.sid)
}

// DeleteRoom closes a room, disconnecting everyone in it.
func (m *Manager) DeleteRoom(name string) error {
	r := m.Room(name)
	if r == nil {
		return fmt.Errorf("room %q not found", name)
	}
	r.Close(livekit.DisconnectReason_ROOM_DELETED)
	return nil
}

// Close disconnects every participant and closes every room.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	rooms := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()
	for _, r := range rooms {
		r.Close(livekit.DisconnectReason_SERVER_SHUTDOWN)
	}
	m.wg.Wait()
}
