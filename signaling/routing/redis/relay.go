package redis

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/routing"
)

// A relayed session: the client's websocket is on node A (the relay), its room on node B.
// A writes the client's requests to the session's up stream, B its responses to the down
// stream; each entry carries a sequence number, so a reader that lost entries to the streams'
// length bound knows it fell behind and ends the session instead of skipping messages.

// wireJoin is routing.JoinParams as it travels to the room's node.
type wireJoin struct {
	Room            string              `json:"room"`
	Claims          *lkauth.ClaimGrants `json:"claims"`
	APIKey          string              `json:"api_key"`
	ExpiresAt       time.Time           `json:"expires_at"`
	SinglePC        bool                `json:"single_pc,omitempty"`
	AutoSubscribe   bool                `json:"auto_subscribe,omitempty"`
	AdaptiveStream  bool                `json:"adaptive_stream,omitempty"`
	Reconnect       bool                `json:"reconnect,omitempty"`
	ReconnectReason int32               `json:"reconnect_reason,omitempty"`
	ParticipantSID  string              `json:"participant_sid,omitempty"`
	ClientInfo      []byte              `json:"client_info,omitempty"`
	Request         []byte              `json:"request,omitempty"`
	// Session names the relayed session's streams.
	Session string `json:"session,omitempty"`
}

func toWire(p *routing.JoinParams) *wireJoin {
	w := &wireJoin{Room: p.Room, SinglePC: p.SinglePC, AutoSubscribe: p.AutoSubscribe, AdaptiveStream: p.AdaptiveStream,
		Reconnect: p.Reconnect, ReconnectReason: int32(p.ReconnectReason), ParticipantSID: p.ParticipantSID}
	if p.Grants != nil {
		w.Claims, w.APIKey, w.ExpiresAt = p.Grants.ClaimGrants, p.Grants.APIKey, p.Grants.ExpiresAt
	}
	if p.ClientInfo != nil {
		w.ClientInfo, _ = proto.Marshal(p.ClientInfo)
	}
	if p.Request != nil {
		w.Request, _ = proto.Marshal(p.Request)
	}
	return w
}

func (w *wireJoin) params() *routing.JoinParams {
	p := &routing.JoinParams{Room: w.Room, SinglePC: w.SinglePC, AutoSubscribe: w.AutoSubscribe, AdaptiveStream: w.AdaptiveStream,
		Reconnect: w.Reconnect, ReconnectReason: livekit.ReconnectReason(w.ReconnectReason), ParticipantSID: w.ParticipantSID,
		Grants: &auth.Grants{ClaimGrants: w.Claims, APIKey: w.APIKey, ExpiresAt: w.ExpiresAt}}
	if w.Claims == nil {
		p.Grants.ClaimGrants = &lkauth.ClaimGrants{}
	}
	if len(w.ClientInfo) > 0 {
		p.ClientInfo = &livekit.ClientInfo{}
		_ = proto.Unmarshal(w.ClientInfo, p.ClientInfo)
	}
	p.Request = &livekit.JoinRequest{}
	if len(w.Request) > 0 {
		_ = proto.Unmarshal(w.Request, p.Request)
	}
	return p
}

// Stream entry fields: k (kind: m message, close, abort, end), n (sequence), t (sent, unix µs),
// d (protobuf), r (reason).
func entry(kind string, seq uint64, data []byte, reason string) map[string]any {
	v := map[string]any{"k": kind, "n": seq, "t": time.Now().UnixMicro()}
	if data != nil {
		v["d"] = data
	}
	if reason != "" {
		v["r"] = reason
	}
	return v
}

// xadd appends to a session's stream, trying again while Redis is briefly away (a restart), for
// at most a lease: the session's order holds, and only this session's goroutine waits.
func (c *Cluster) xadd(ctx context.Context, key string, v map[string]any) error {
	ctx, cancel := context.WithTimeout(ctx, LeaseTTL)
	defer cancel()
	for {
		pipe := c.rdb.Pipeline()
		pipe.XAdd(ctx, &goredis.XAddArgs{Stream: key, MaxLen: streamMaxLen, Approx: true, Values: v})
		pipe.PExpire(ctx, key, streamTTL)
		_, err := pipe.Exec(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// streamReader reads one stream in order, telling a gap (entries trimmed unread) from the end.
type streamReader struct {
	c    *Cluster
	key  string
	last string
	seq  uint64
}

var errBehind = errors.New("signal relay fell behind")

// next returns the entries that arrived, waiting up to pollBlock; none on timeout.
func (r *streamReader) next(ctx context.Context) ([]goredis.XMessage, error) {
	res, err := r.c.rdb.XRead(ctx, &goredis.XReadArgs{Streams: []string{r.key, r.last}, Count: 64, Block: pollBlock}).Result()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []goredis.XMessage
	for _, s := range res {
		for _, m := range s.Messages {
			r.last = m.ID
			n, _ := strconv.ParseUint(field(m, "n"), 10, 64)
			if n != r.seq+1 {
				return out, errBehind
			}
			r.seq = n
			if t, err := strconv.ParseInt(field(m, "t"), 10, 64); err == nil {
				if lag := time.Now().UnixMicro() - t; lag >= 0 {
					r.c.stats.RelayLagMicros.Add(uint64(lag))
					r.c.stats.RelayLagSamples.Add(1)
				}
			}
			out = append(out, m)
		}
	}
	return out, nil
}

func field(m goredis.XMessage, k string) string {
	s, _ := m.Values[k].(string)
	return s
}

// openHere starts, on the room's node, a session another node relays.
func (c *Cluster) openHere(ctx context.Context, req *call) (any, error) {
	var w wireJoin
	if err := json.Unmarshal(req.Args, &w); err != nil {
		return nil, err
	}
	sess, err := c.joinHere(ctx, w.params())
	if err != nil {
		return nil, err
	}
	go c.hostRelayed(w.Session, req.From, sess)
	return nil, nil
}

// joinHere claims the room for this node and starts the session, fenced by the lease.
func (c *Cluster) joinHere(ctx context.Context, p *routing.JoinParams) (routing.Session, error) {
	if c.isMoving() {
		// The room is closing here; its lease goes when it has closed, then it is placed anew.
		return nil, &routing.RoomElsewhereError{Room: p.Room, Node: "(moving)"}
	}
	owner, err := c.leases.Claim(ctx, p.Room, c.cfg.NodeID)
	if err != nil {
		return nil, err
	}
	if owner != c.cfg.NodeID || !c.leases.Holds(p.Room) {
		return nil, &routing.RoomElsewhereError{Room: p.Room, Node: owner}
	}
	return c.cfg.Host.StartSession(ctx, p)
}

// hostRelayed pumps a relayed session on the room's node until either end stops.
func (c *Cluster) hostRelayed(sid, relay string, sess routing.Session) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	go func() {
		defer cancel()
		var seq uint64
		for m := range sess.Responses() {
			b, err := proto.Marshal(m)
			if err != nil {
				continue
			}
			seq++
			if err := c.xadd(ctx, downKey(sid), entry("m", seq, b, "")); err != nil {
				if ctx.Err() == nil {
					c.log.Warn("relay down write failed; ending the session", "session", sid, "err", err)
				}
				sess.Close()
				for range sess.Responses() {
				}
				return
			}
			c.stats.RelayedDown.Add(1)
		}
		seq++
		_ = c.xadd(context.Background(), downKey(sid), entry("end", seq, nil, ""))
	}()
	r := &streamReader{c: c, key: upKey(sid), last: "0"}
	lastCheck := time.Now()
	for ctx.Err() == nil {
		msgs, err := r.next(ctx)
		for _, m := range msgs {
			switch field(m, "k") {
			case "m":
				req := &livekit.SignalRequest{}
				if proto.Unmarshal([]byte(field(m, "d")), req) == nil {
					c.stats.RelayedUp.Add(1)
					_ = sess.Send(req)
				}
			case "close":
				sess.Close()
				return
			case "abort":
				sess.Abort(field(m, "r"))
				return
			}
		}
		if errors.Is(err, errBehind) {
			c.stats.RelaysBehind.Add(1)
			sess.Abort(errBehind.Error())
			return
		}
		if time.Since(lastCheck) >= pollBlock {
			lastCheck = time.Now()
			// The relaying node died: the client lost its websocket with it and may resume.
			if ok, aerr := c.alive(ctx, relay); aerr == nil && !ok {
				c.log.Info("relaying node gone; closing its session", "session", sid, "relay", relay)
				sess.Close()
				return
			}
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, errBehind) {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// relayed is the relay's side of a session hosted on another node.
type relayed struct {
	c     *Cluster
	sid   string
	node  string
	room  string
	resp  chan *livekit.SignalResponse
	ctx   context.Context
	stop  context.CancelFunc
	mu    sync.Mutex
	seq   uint64
	ended bool
}

// openRelay starts a session for p on node.
func (c *Cluster) openRelay(ctx context.Context, node string, p *routing.JoinParams) (routing.Session, error) {
	w := toWire(p)
	w.Session = guid.New("RS_")
	if err := c.call(ctx, node, "open", p.Room, w, nil); err != nil {
		return nil, err
	}
	s := &relayed{c: c, sid: w.Session, node: node, room: p.Room, resp: make(chan *livekit.SignalResponse, 256)}
	s.ctx, s.stop = context.WithCancel(c.ctx)
	go s.read()
	return s, nil
}

func (s *relayed) Responses() <-chan *livekit.SignalResponse { return s.resp }

func (s *relayed) Send(req *livekit.SignalRequest) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	return s.write("m", b, "")
}

func (s *relayed) write(kind string, data []byte, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return routing.ErrSessionClosed
	}
	s.seq++
	if err := s.c.xadd(s.ctx, upKey(s.sid), entry(kind, s.seq, data, reason)); err != nil {
		return err
	}
	if kind == "m" {
		s.c.stats.RelayedUp.Add(1)
	} else {
		s.ended = true
	}
	return nil
}

func (s *relayed) Close() {
	_ = s.write("close", nil, "")
	s.stop()
}

func (s *relayed) Abort(reason string) {
	_ = s.write("abort", nil, reason)
	s.stop()
}

// read delivers the room node's responses in order until the session ends, the room's node
// disappears (the client is asked to join again, which places the room anew) or the reader
// falls behind.
func (s *relayed) read() {
	defer close(s.resp)
	r := &streamReader{c: s.c, key: downKey(s.sid), last: "0"}
	lastCheck := time.Now()
	var failingSince time.Time
	for s.ctx.Err() == nil {
		msgs, err := r.next(s.ctx)
		for _, m := range msgs {
			switch field(m, "k") {
			case "m":
				res := &livekit.SignalResponse{}
				if proto.Unmarshal([]byte(field(m, "d")), res) != nil {
					continue
				}
				select {
				case s.resp <- res:
				default:
					s.behind()
					return
				}
			case "end":
				return
			}
		}
		if errors.Is(err, errBehind) {
			s.behind()
			return
		}
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) > LeaseTTL {
				s.rejoin("cluster coordination unreachable")
				return
			}
			select {
			case <-s.ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		failingSince = time.Time{}
		if time.Since(lastCheck) >= pollBlock {
			lastCheck = time.Now()
			if ok, aerr := s.c.alive(s.ctx, s.node); aerr == nil && !ok {
				s.rejoin("the room's node is gone")
				return
			}
		}
	}
}

// behind ends a session whose reader lost messages: the room's node drops the participant with
// the reason, and the client's websocket closes.
func (s *relayed) behind() {
	s.c.stats.RelaysBehind.Add(1)
	s.c.log.Warn("relayed session fell behind; closing it", "session", s.sid, "room", s.room)
	_ = s.write("abort", nil, errBehind.Error())
	s.stop()
}

// rejoin asks the client for a full reconnect, which places the room again.
func (s *relayed) rejoin(why string) {
	s.c.log.Info("relayed session lost its room's node; asking the client to rejoin", "session", s.sid, "room", s.room, "node", s.node, "why", why)
	select {
	case s.resp <- &livekit.SignalResponse{Message: &livekit.SignalResponse_Leave{Leave: &livekit.LeaveRequest{
		Reason: livekit.DisconnectReason_MIGRATION, Action: livekit.LeaveRequest_RECONNECT, CanReconnect: true}}}:
	default:
	}
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	s.stop()
}
