// Package signaling serves LiveKit's signalling protocol (version 17) over websockets, so the
// official LiveKit SDKs join Hop unchanged: /rtc/v1 (one PeerConnection) and /rtc (two), the
// /validate endpoints that explain a failed connection, and the protobuf framing in between.
// It turns bytes into SignalRequests for a routing.Session and knows nothing of rooms or RTP.
package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/routing"
)

// Server handles the signalling endpoints.
type Server struct {
	verifier   *auth.Verifier
	router     routing.Router
	log        *slog.Logger
	maxMessage int64
	disableV1  bool
	allowJoin  func(room string) (bool, time.Duration)
	upgrader   websocket.Upgrader

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[*websocket.Conn]struct{}
	closed bool
}

// Config configures a Server.
type Config struct {
	Verifier *auth.Verifier
	Router   routing.Router
	Logger   *slog.Logger
	// MaxMessage is the largest websocket message accepted.
	MaxMessage int64
	// DisableV1 refuses /rtc/v1 with 404 so that LiveKit clients fall back to /rtc (two connections).
	DisableV1 bool
	// AllowJoin, if set, is asked before a new participant (not a resume) joins room; a refusal
	// answers 429 with Retry-After.
	AllowJoin func(room string) (ok bool, retryAfter time.Duration)
}

// NewServer makes the signalling server.
func NewServer(c Config) *Server {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = 1 << 20
	}
	return &Server{
		verifier:   c.Verifier,
		router:     c.Router,
		log:        c.Logger.With("component", "signaling"),
		maxMessage: c.MaxMessage,
		disableV1:  c.DisableV1,
		allowJoin:  c.AllowJoin,
		upgrader: websocket.Upgrader{
			// Signal messages are small and rare next to media: the read buffer is the size of
			// net/http's own (which the upgrade then reuses) and write buffers are lent from a
			// pool only while a message is written, instead of 32 KiB held by every participant.
			ReadBufferSize:  4 << 10,
			WriteBufferSize: 16 << 10,
			WriteBufferPool: &sync.Pool{},
			// Tokens, not origins, authorise a join: SDK clients connect from any origin.
			CheckOrigin: func(*http.Request) bool { return true },
		},
		conns: map[*websocket.Conn]struct{}{},
	}
}

// Register adds the endpoints to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/rtc", func(w http.ResponseWriter, r *http.Request) { s.serveRTC(w, r, false) })
	mux.HandleFunc("/rtc/v1", func(w http.ResponseWriter, r *http.Request) { s.serveRTC(w, r, true) })
	mux.HandleFunc("/rtc/validate", func(w http.ResponseWriter, r *http.Request) { s.serveValidate(w, r, false) })
	mux.HandleFunc("/rtc/v1/validate", func(w http.ResponseWriter, r *http.Request) { s.serveValidate(w, r, true) })
}

// writeError answers an HTTP request with the error's status and a JSON reason.
func writeError(w http.ResponseWriter, err error) {
	status := auth.Status(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": http.StatusText(status), "reason": err.Error()})
}

// prepare authenticates a request and reads its join parameters.
func (s *Server) prepare(r *http.Request, v1 bool) (*routing.JoinParams, error) {
	grants, err := s.verifier.Verify(accessToken(r))
	if err != nil {
		return nil, err
	}
	room, err := grants.CheckJoin(r.URL.Query().Get("room"))
	if err != nil {
		return nil, err
	}
	jp, err := parseJoin(r, v1, grants)
	if err != nil {
		return nil, err
	}
	jp.Room = room
	jp.RemoteAddr = r.RemoteAddr
	return jp, nil
}

func (s *Server) serveValidate(w http.ResponseWriter, r *http.Request, v1 bool) {
	// Browsers call this with fetch from the page's origin.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if v1 && s.disableV1 {
		http.Error(w, "single peer connection signalling is disabled on this server", http.StatusNotFound)
		return
	}
	jp, err := s.prepare(r, v1)
	if err == nil {
		err = s.router.Validate(r.Context(), jp)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("success"))
}

func (s *Server) serveRTC(w http.ResponseWriter, r *http.Request, v1 bool) {
	if v1 && s.disableV1 {
		http.Error(w, "single peer connection signalling is disabled on this server", http.StatusNotFound)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, badRequest("this endpoint takes a websocket"))
		return
	}
	jp, err := s.prepare(r, v1)
	if err == nil {
		err = s.router.Validate(r.Context(), jp)
	}
	if err != nil {
		s.log.Info("join refused", "status", auth.Status(err), "reason", err.Error(), "remote", r.RemoteAddr)
		writeError(w, err)
		return
	}
	if s.allowJoin != nil && !jp.Reconnect {
		if ok, wait := s.allowJoin(jp.Room); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			http.Error(w, "too many joins to this room: try again later", http.StatusTooManyRequests)
			return
		}
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	if !s.track(conn) {
		_ = conn.Close()
		return
	}
	defer s.untrack(conn)
	// The HTTP server's read and write deadlines are for requests; a websocket keeps its own
	// (the pump's keepalive and per-write deadlines). The upgrader clears them only when it has
	// no handshake timeout, so clear them here whatever it is configured with.
	_ = conn.NetConn().SetDeadline(time.Time{})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	sess, err := s.router.Join(ctx, jp)
	cancel()
	if err != nil {
		s.log.Info("join failed", "room", jp.Room, "identity", jp.Grants.Identity, "err", err)
		reason := livekit.DisconnectReason_JOIN_FAILURE
		var re interface {
			DisconnectReason() livekit.DisconnectReason
		}
		if errors.As(err, &re) {
			reason = re.DisconnectReason()
		}
		action := livekit.LeaveRequest_DISCONNECT
		if jp.Reconnect {
			// The session to resume is gone: the client should join afresh.
			reason, action = livekit.DisconnectReason_STATE_MISMATCH, livekit.LeaveRequest_RECONNECT
		}
		s.closeWithLeave(conn, reason, action, err.Error())
		return
	}
	s.pump(conn, sess, jp)
}

func (s *Server) track(c *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *websocket.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// closeWithLeave tells the client why it cannot stay, then closes the websocket.
func (s *Server) closeWithLeave(conn *websocket.Conn, reason livekit.DisconnectReason, action livekit.LeaveRequest_Action, msg string) {
	leave := &livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
		Reason: reason, Action: action, CanReconnect: action != livekit.LeaveRequest_DISCONNECT,
	}}}
	if b, err := proto.Marshal(leave); err == nil {
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_ = conn.WriteMessage(websocket.BinaryMessage, b)
	}
	closeMsg := websocket.FormatCloseMessage(websocket.ClosePolicyViolation, truncate(msg, 120))
	_ = conn.WriteControl(websocket.CloseMessage, closeMsg, time.Now().Add(time.Second))
	_ = conn.Close()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Websocket keepalive. Not every LiveKit client sends the protocol's pings (server-sdk-go sends
// none), so the server pings at the websocket level, which every websocket client answers, and
// gives up on a connection that has sent nothing, not even a pong, for wsIdleTimeout: a client
// that vanished without closing its TCP connection is found within that time.
const (
	wsPingInterval = 5 * time.Second
	wsIdleTimeout  = 20 * time.Second
)

// pump moves messages between the websocket and the session until either side ends.
func (s *Server) pump(conn *websocket.Conn, sess routing.Session, jp *routing.JoinParams) {
	log := s.log.With("room", jp.Room, "identity", jp.Grants.Identity)
	writerDone := make(chan struct{})
	alive := func() { _ = conn.SetReadDeadline(time.Now().Add(wsIdleTimeout)) }
	conn.SetPongHandler(func(string) error { alive(); return nil })
	go func() {
		defer close(writerDone)
		tick := time.NewTicker(wsPingInterval)
		defer tick.Stop()
		for {
			var msg *livekit.SignalResponse
			select {
			case m, ok := <-sess.Responses():
				if !ok {
					// The session ended: close the websocket cleanly.
					_ = conn.WriteControl(websocket.CloseMessage,
						websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
					_ = conn.Close()
					return
				}
				msg = m
			case <-tick.C:
				// WriteControl may run alongside other writes; a failure shows up on the next read.
				_ = conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsPingInterval))
				continue
			}
			b, err := proto.Marshal(msg)
			if err != nil {
				log.Error("marshal signal response", "err", err)
				continue
			}
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
				_ = conn.Close()
				// Drain so the session never blocks on a dead client.
				for range sess.Responses() {
				}
				return
			}
		}
	}()

	abort := ""
	for {
		alive()
		mt, data, err := s.readMessage(conn)
		if errors.Is(err, errTooLarge) {
			log.Warn("signal message too large; closing", "limit", s.maxMessage)
			abort = "signal message too large"
			refuse(conn, websocket.CloseMessageTooBig, abort)
			break
		}
		if err != nil {
			break
		}
		req := &livekit.SignalRequest{}
		switch mt {
		case websocket.BinaryMessage:
			err = proto.Unmarshal(data, req)
		case websocket.TextMessage:
			err = protojsonUnmarshal(data, req)
		}
		if err != nil {
			// Garbage from this client ends this client's session only, with the reason.
			log.Info("malformed signal request; closing", "err", err, "size", len(data))
			abort = "malformed signal request"
			refuse(conn, websocket.CloseInvalidFramePayloadData, truncate("malformed signal request: "+err.Error(), 120))
			break
		}
		if req.Message == nil {
			// A request type this server does not know (a newer client): skip it.
			log.Debug("unknown signal request", "size", len(data))
			continue
		}
		if err := sess.Send(req); err != nil {
			break
		}
	}
	if abort != "" {
		sess.Abort(abort)
	} else {
		sess.Close()
	}
	<-writerDone
}

var errTooLarge = errors.New("signal message too large")

// readMessage reads the next message, at most maxMessage bytes of it. Gorilla's own read limit
// would answer a larger one with a close frame of its own, without a reason, before Hop's.
func (s *Server) readMessage(conn *websocket.Conn) (int, []byte, error) {
	mt, r, err := conn.NextReader()
	if err != nil {
		return 0, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(r, s.maxMessage+1))
	if err != nil {
		return 0, nil, err
	}
	if int64(len(data)) > s.maxMessage {
		return 0, nil, errTooLarge
	}
	return mt, data, nil
}

// refuse sends a client the close frame that ends it, then reads and drops what it is still
// sending, for at most a second: closing a socket with unread input makes the kernel reset the
// connection, which can destroy the close frame (and its reason) before the client reads it.
func refuse(conn *websocket.Conn, code int, reason string) {
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	nc := conn.NetConn()
	_ = nc.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, 8<<20))
}

// Close disconnects every websocket and waits for their handlers.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
