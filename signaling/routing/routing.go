// Package routing connects a participant's signal stream to the node that hosts its room, and keeps
// the state other nodes must see (which node hosts a room). This package holds the interfaces and
// the single-node, in-memory implementation; a Redis implementation plugs in behind the same
// interfaces so that the websocket side and the SFU do not change.
package routing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/signaling/auth"
)

// JoinParams is everything a join carries, whichever endpoint it came through.
type JoinParams struct {
	Room   string
	Grants *auth.Grants
	// SinglePC is LiveKit's /rtc/v1 mode: one PeerConnection for publishing and subscribing.
	SinglePC        bool
	AutoSubscribe   bool
	AdaptiveStream  bool
	Reconnect       bool
	ReconnectReason livekit.ReconnectReason
	ParticipantSID  string
	ClientInfo      *livekit.ClientInfo
	// Request is the full JoinRequest (/rtc/v1), or an empty one built from query parameters.
	Request *livekit.JoinRequest
	// RemoteAddr is the client's address as the signalling server saw it.
	RemoteAddr string
}

// Session is one participant's signal stream as the websocket sees it.
type Session interface {
	// Send hands a client request to the participant. It fails once the session has ended.
	Send(*livekit.SignalRequest) error
	// Responses yields the messages for the client; it is closed when the session ends.
	Responses() <-chan *livekit.SignalResponse
	// Close ends the session from the client side (the websocket went away); the participant may
	// resume within the resume window.
	Close()
	// Abort ends the session because the client broke the protocol; the participant leaves at once.
	Abort(reason string)
}

// ErrSessionClosed is returned by Send after the session ended.
var ErrSessionClosed = errors.New("signal session closed")

// Host runs rooms on this node.
type Host interface {
	// StartSession joins (or resumes) a participant in a local room.
	StartSession(ctx context.Context, p *JoinParams) (Session, error)
	// CheckJoin reports why a join would fail, without joining.
	CheckJoin(ctx context.Context, p *JoinParams) error
}

// Router decides which node hosts a room and connects sessions to it.
type Router interface {
	Join(ctx context.Context, p *JoinParams) (Session, error)
	Validate(ctx context.Context, p *JoinParams) error
}

// RoomRegistry records which node hosts each room.
type RoomRegistry interface {
	// Claim returns the node hosting room, making nodeID its host if none is.
	Claim(ctx context.Context, room, nodeID string) (string, error)
	// Release forgets room if nodeID hosts it.
	Release(ctx context.Context, room, nodeID string) error
}

// Local is the single-node router: every room lives here.
type Local struct {
	NodeID   string
	Host     Host
	Registry RoomRegistry
}

// RoomElsewhereError is a join for a room another node hosts, which this router cannot reach.
type RoomElsewhereError struct {
	Room, Node string
}

func (e *RoomElsewhereError) Error() string {
	return fmt.Sprintf("room %q is hosted on node %s", e.Room, e.Node)
}

// DisconnectReason lets the websocket layer tell the client why.
func (e *RoomElsewhereError) DisconnectReason() livekit.DisconnectReason {
	return livekit.DisconnectReason_JOIN_FAILURE
}

// Unwrap gives the HTTP status for the validate endpoint.
func (e *RoomElsewhereError) Unwrap() error {
	return &auth.Error{Status: http.StatusServiceUnavailable, Reason: e.Error()}
}

// Join claims the room for this node and starts the session there; a room another node holds is
// refused, since a single node has no way to relay to it.
func (l *Local) Join(ctx context.Context, p *JoinParams) (Session, error) {
	node, err := l.Registry.Claim(ctx, p.Room, l.NodeID)
	if err != nil {
		return nil, err
	}
	if node != l.NodeID {
		return nil, &RoomElsewhereError{Room: p.Room, Node: node}
	}
	return l.Host.StartSession(ctx, p)
}

// Validate asks the host.
func (l *Local) Validate(ctx context.Context, p *JoinParams) error { return l.Host.CheckJoin(ctx, p) }

// MemoryRegistry is the in-memory RoomRegistry.
type MemoryRegistry struct {
	mu    sync.Mutex
	rooms map[string]string
}

// NewMemoryRegistry makes an empty registry.
func NewMemoryRegistry() *MemoryRegistry { return &MemoryRegistry{rooms: map[string]string{}} }

// Claim implements RoomRegistry.
func (m *MemoryRegistry) Claim(_ context.Context, room, nodeID string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.rooms[room]; ok {
		return n, nil
	}
	m.rooms[room] = nodeID
	return nodeID, nil
}

// Release implements RoomRegistry.
func (m *MemoryRegistry) Release(_ context.Context, room, nodeID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rooms[room] == nodeID {
		delete(m.rooms, room)
	}
	return nil
}
