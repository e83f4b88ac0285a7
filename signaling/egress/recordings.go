package egress

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hop-meet/hop/signaling/auth"
)

// RegisterRecordings serves a meeting's recordings to its hosts (a token with roomAdmin for the
// room, as hosts' tokens have) and to tokens with roomRecord for it:
//
//	GET    /api/rooms/{room}/recordings                  the room's recordings (as ListEgress)
//	GET    /api/rooms/{room}/recordings/{id}/files/{name} one of its files (a stored one: a redirect to a signed link)
//	DELETE /api/rooms/{room}/recordings/{id}              delete a finished recording, here and in the store
//
// In a cluster any node answers, for every node's recordings: it checks the token, then lists
// them all, signs a stored file's link itself, proxies another node's local file from that node,
// and has a deletion done where the recording is.
func (s *Service) RegisterRecordings(mux *http.ServeMux, v *auth.Verifier) {
	h := recordingsHandler{s: s, v: v, client: proxyClient()}
	mux.HandleFunc("GET /api/rooms/{room}/recordings", h.list)
	mux.HandleFunc("GET /api/rooms/{room}/recordings/{id}/files/{name}", h.file)
	mux.HandleFunc("DELETE /api/rooms/{room}/recordings/{id}", h.delete)
}

type recordingsHandler struct {
	s *Service
	v *auth.Verifier
	// client fetches another node's local files for proxy.
	client *http.Client
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

// forwardedHeader marks a download one node proxies to the node that has the recording, which
// answers it from its own recordings only: no request goes round the cluster.
const forwardedHeader = "X-Hop-Forwarded"

func (h recordingsHandler) list(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(w, r) {
		return
	}
	// Every node's, as ListEgress gathers them, links signed here.
	items := h.s.gather(r.Context(), &livekit.ListEgressRequest{RoomName: r.PathValue("room")})
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
	id, room, name := r.PathValue("id"), r.PathValue("room"), r.PathValue("name")
	info, node := h.s.FindHere(id), ""
	if info == nil && h.s.cfg.Peers != nil && r.Header.Get(forwardedHeader) == "" {
		var err error
		if info, node, err = h.s.cfg.Peers.Find(r.Context(), id); err != nil {
			h.s.log.Warn("finding a recording on the other nodes failed", "recording", id, "err", err)
			fail(w, http.StatusBadGateway, "node_unavailable")
			return
		}
	}
	if info == nil || info.RoomName != room {
		fail(w, http.StatusNotFound, "recording_not_found")
		return
	}
	for _, f := range info.FileResults {
		switch {
		case f.Filename != name:
			continue
		case strings.HasPrefix(f.Location, "s3://"):
			// Signed here for any node's: the nodes share the store's configuration.
			u, err := h.s.cfg.Store.SignedURL(r.Context(), f.Location, time.Minute)
			if err != nil {
				fail(w, http.StatusBadGateway, "store_unavailable")
				return
			}
			http.Redirect(w, r, u, http.StatusFound) // #nosec G710 -- a link this node signed for its own store
		case node != "":
			h.proxy(w, r, node)
		default:
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
			http.ServeFile(w, r, f.Location) // #nosec G703 -- a file this node's recorder wrote, found among the recording's results by name
		}
		return
	}
	fail(w, http.StatusNotFound, "file_not_found")
}

func (h recordingsHandler) delete(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(w, r) {
		return
	}
	id, room := r.PathValue("id"), r.PathValue("room")
	deleted, err := h.s.DeleteHere(r.Context(), id, room)
	if !deleted && err == nil && h.s.cfg.Peers != nil {
		if deleted, err = h.s.cfg.Peers.Delete(r.Context(), id, room); err != nil {
			err = peerError(err)
		}
	}
	switch {
	case err != nil:
		apiError(w, err)
	case !deleted:
		fail(w, http.StatusNotFound, "recording_not_found")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// apiError answers a Twirp error of DeleteHere, here or on another node, as the API's status
// and code; the cluster's own failures (a node that did not answer, Redis away) are a 502.
func apiError(w http.ResponseWriter, err error) {
	var te twirp.Error
	if !errors.As(err, &te) {
		fail(w, http.StatusInternalServerError, "internal")
		return
	}
	switch te.Code() {
	case twirp.FailedPrecondition:
		fail(w, http.StatusConflict, te.Msg())
	case twirp.Unavailable:
		if te.Msg() == "store_unavailable" {
			fail(w, http.StatusBadGateway, te.Msg())
			return
		}
		fail(w, http.StatusBadGateway, "node_unavailable")
	default:
		fail(w, http.StatusInternalServerError, "internal")
	}
}

func fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
