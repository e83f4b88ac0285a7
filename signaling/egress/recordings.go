package egress

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hop-meet/hop/signaling/auth"
)

// RegisterRecordings serves a meeting's recordings to its hosts (a token with roomAdmin for the
// room, as hosts' tokens have) and to tokens with roomRecord for it:
//
//	GET    /api/rooms/{room}/recordings                  the room's recordings (as ListEgress)
//	GET    /api/rooms/{room}/recordings/{id}/files/{name} one of its files (a stored one: a redirect to a signed link)
//	DELETE /api/rooms/{room}/recordings/{id}              delete a finished recording, here and in the store
func (s *Service) RegisterRecordings(mux *http.ServeMux, v *auth.Verifier) {
	h := recordingsHandler{s: s, v: v}
	mux.HandleFunc("GET /api/rooms/{room}/recordings", h.list)
	mux.HandleFunc("GET /api/rooms/{room}/recordings/{id}/files/{name}", h.file)
	mux.HandleFunc("DELETE /api/rooms/{room}/recordings/{id}", h.delete)
}

type recordingsHandler struct {
	s *Service
	v *auth.Verifier
}

// allowed checks the caller's token for the room in the path.
func (h recordingsHandler) allowed(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		fail(w, http.StatusUnauthorized, "unauthorized")
		return false
	}
	g, err := h.v.Verify(tok)
	if err != nil {
		fail(w, http.StatusUnauthorized, "unauthorized")
		return false
	}
	room := r.PathValue("room")
	recorder := g.Video != nil && g.Video.RoomRecord && (g.Video.Room == "" || g.Video.Room == room)
	if !g.IsAdmin(room) && !recorder {
		fail(w, http.StatusForbidden, "forbidden")
		return false
	}
	return true
}

// recording finds the room's recording named in the path.
func (h recordingsHandler) recording(w http.ResponseWriter, r *http.Request) (*job, bool) {
	h.s.mu.Lock()
	j := h.s.jobs[r.PathValue("id")]
	h.s.mu.Unlock()
	if j == nil || j.snapshot().RoomName != r.PathValue("room") {
		fail(w, http.StatusNotFound, "recording_not_found")
		return nil, false
	}
	return j, true
}

func (h recordingsHandler) list(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(w, r) {
		return
	}
	items := h.s.list(r.PathValue("room"), "", false)
	for _, i := range items {
		h.s.signLinks(r.Context(), i)
	}
	b, err := protojson.Marshal(&livekit.ListEgressResponse{Items: items})
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

func (h recordingsHandler) file(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(w, r) {
		return
	}
	j, ok := h.recording(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	for _, f := range j.snapshot().FileResults {
		if f.Filename != name {
			continue
		}
		if strings.HasPrefix(f.Location, "s3://") {
			u, err := h.s.cfg.Store.SignedURL(r.Context(), f.Location, time.Minute)
			if err != nil {
				fail(w, http.StatusBadGateway, "store_unavailable")
				return
			}
			http.Redirect(w, r, u, http.StatusFound)
			return
		}
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		http.ServeFile(w, r, f.Location)
		return
	}
	fail(w, http.StatusNotFound, "file_not_found")
}

func (h recordingsHandler) delete(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(w, r) {
		return
	}
	j, ok := h.recording(w, r)
	if !ok {
		return
	}
	id := j.snapshot().EgressId
	if j.snapshot().Status <= livekit.EgressStatus_EGRESS_ENDING {
		fail(w, http.StatusConflict, "recording_in_progress")
		return
	}
	if h.s.cfg.Store != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
		err := h.s.cfg.Store.DeletePrefix(ctx, id+"/")
		cancel()
		if err != nil {
			h.s.log.Warn("deleting a recording from the store failed", "recording", id, "err", err)
			fail(w, http.StatusBadGateway, "store_unavailable")
			return
		}
	}
	if err := os.RemoveAll(filepath.Join(h.s.cfg.Dir, filepath.Base(id))); err != nil {
		fail(w, http.StatusInternalServerError, "internal")
		return
	}
	h.s.mu.Lock()
	delete(h.s.jobs, id)
	h.s.mu.Unlock()
	h.s.log.Info("recording deleted", "recording", id, "room", r.PathValue("room"))
	w.WriteHeader(http.StatusNoContent)
}

func fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
