// Package control serves Hop's meeting-control API beside LiveKit's RoomService: the chair's
// actions, the lobby, the meeting's settings and its log, as small JSON requests. Every call is
// checked on the server against the caller's token and current role; the app's buttons carry no
// authority of their own.
package control

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/room"
)

// Room is what the API needs of a meeting (*room.Room).
type Room interface {
	CanControl(room.Actor) bool
	Act(room.Actor, room.ControlRequest) error
	Settings() room.Settings
	Waiting() []room.LobbyEntry
	Roster() []room.RosterEntry
	Log() []room.LogEntry
}

// Rooms finds a meeting by name (local rooms today; the room's node in a cluster later).
type Rooms interface {
	ControlRoom(name string) (Room, bool)
}

// maxBody bounds a control request.
const maxBody = 8 << 10

// Handler serves /api/rooms/{room}/control and /api/rooms/{room}/log.
type Handler struct {
	verifier *auth.Verifier
	rooms    Rooms
}

// New makes the handler.
func New(v *auth.Verifier, rooms Rooms) *Handler { return &Handler{verifier: v, rooms: rooms} }

// Register adds the endpoints to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/rooms/{room}/control", h.serveState)
	mux.HandleFunc("POST /api/rooms/{room}/control", h.serveAct)
	mux.HandleFunc("GET /api/rooms/{room}/log", h.serveLog)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]string{"error": code})
}

// authorize finds the room and the caller, and checks that the caller runs the meeting. It
// answers the request itself when not.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) (Room, room.Actor, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		fail(w, http.StatusUnauthorized, "unauthorized")
		return nil, room.Actor{}, false
	}
	g, err := h.verifier.Verify(tok)
	if err != nil {
		fail(w, http.StatusUnauthorized, "unauthorized")
		return nil, room.Actor{}, false
	}
	name := r.PathValue("room")
	a := room.Actor{Identity: g.Identity, Name: g.Name, Admin: g.IsAdmin(name), Addr: r.RemoteAddr}
	if g.Video == nil || (!a.Admin && g.Video.Room != name) {
		fail(w, http.StatusForbidden, "forbidden")
		return nil, a, false
	}
	rm, ok := h.rooms.ControlRoom(name)
	if !ok {
		fail(w, http.StatusNotFound, "room_not_found")
		return nil, a, false
	}
	if !rm.CanControl(a) {
		fail(w, http.StatusForbidden, "forbidden")
		return nil, a, false
	}
	return rm, a, true
}

func (h *Handler) serveState(w http.ResponseWriter, r *http.Request) {
	rm, _, ok := h.authorize(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"settings": rm.Settings(), "waiting": rm.Waiting(), "participants": rm.Roster()})
}

func (h *Handler) serveLog(w http.ResponseWriter, r *http.Request) {
	rm, _, ok := h.authorize(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": rm.Log()})
}

func (h *Handler) serveAct(w http.ResponseWriter, r *http.Request) {
	rm, a, ok := h.authorize(w, r)
	if !ok {
		return
	}
	var req room.ControlRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "bad_request")
		return
	}
	switch err := rm.Act(a, req); {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case errors.Is(err, room.ErrForbidden):
		fail(w, http.StatusForbidden, "forbidden")
	case errors.Is(err, room.ErrParticipantNotFound):
		fail(w, http.StatusNotFound, "participant_not_found")
	case errors.Is(err, room.ErrTicketUnknown):
		fail(w, http.StatusNotFound, "ticket_unknown")
	case errors.Is(err, room.ErrNoRecorder):
		fail(w, http.StatusServiceUnavailable, "recording_unavailable")
	default:
		fail(w, http.StatusBadRequest, "bad_request")
	}
}

// LocalRooms are the rooms of this node.
type LocalRooms struct{ M *room.Manager }

// ControlRoom implements Rooms.
func (l LocalRooms) ControlRoom(name string) (Room, bool) {
	if r := l.M.Room(name); r != nil {
		return r, true
	}
	return nil, false
}
