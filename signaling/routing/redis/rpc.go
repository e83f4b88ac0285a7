package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
	goredis "github.com/redis/go-redis/v9"
	"github.com/twitchtv/twirp"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/room"
	"github.com/hop-meet/hop/signaling/routing"
)

// Calls between nodes: a request is pushed on the callee's list, the answer on a list of its own
// that the caller waits on. Lists, not pub/sub: a call made while the callee is briefly away from
// Redis is still there when it comes back, until the caller's deadline.
const (
	rpcWorkers  = 4
	callTimeout = 3 * time.Second
)

type call struct {
	ID       string          `json:"id"`
	Op       string          `json:"op"`
	Room     string          `json:"room,omitempty"`
	From     string          `json:"from"`
	Deadline time.Time       `json:"deadline"`
	Args     json.RawMessage `json:"args,omitempty"`
}

type answer struct {
	Err    string          `json:"err,omitempty"`
	Kind   string          `json:"kind,omitempty"` // which error: see wireError
	Reason int32           `json:"reason,omitempty"`
	Status int             `json:"status,omitempty"`
	Code   string          `json:"code,omitempty"` // a Twirp error's code (Kind "twirp")
	Body   json.RawMessage `json:"body,omitempty"`
}

// errNoAnswer is a call its callee did not answer in time (it may be dead).
var errNoAnswer = errors.New("the room's node did not answer")

// call runs op on node and decodes its answer into out.
func (c *Cluster) call(ctx context.Context, node, op, roomName string, args, out any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	req := call{ID: guid.New("RC_"), Op: op, Room: roomName, From: c.cfg.NodeID, Deadline: dl}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return err
		}
		req.Args = b
	}
	b, _ := json.Marshal(req)
	pipe := c.rdb.TxPipeline()
	pipe.RPush(ctx, callsKey(node), b)
	pipe.PExpire(ctx, callsKey(node), callTimeout*2)
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable(err)
	}
	res, err := c.rdb.BLPop(ctx, time.Until(dl), replyKey(req.ID)).Result()
	if errors.Is(err, goredis.Nil) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%s, %s)", errNoAnswer, node, op)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (%s, %s)", errNoAnswer, node, op)
		}
		return unavailable(err)
	}
	var a answer
	if err := json.Unmarshal([]byte(res[1]), &a); err != nil {
		return err
	}
	if a.Err != "" {
		return a.error()
	}
	if out != nil && len(a.Body) > 0 {
		return json.Unmarshal(a.Body, out)
	}
	return nil
}

// serveCalls answers the calls other nodes make of this one.
func (c *Cluster) serveCalls(ctx context.Context) {
	for ctx.Err() == nil {
		res, err := c.rdb.BLPop(ctx, time.Second, callsKey(c.cfg.NodeID)).Result()
		if err != nil {
			if !errors.Is(err, goredis.Nil) && ctx.Err() == nil {
				select { // Redis is away: try again shortly, without spinning
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
			continue
		}
		var req call
		if err := json.Unmarshal([]byte(res[1]), &req); err != nil {
			continue
		}
		if time.Now().After(req.Deadline) {
			continue // the caller gave up
		}
		c.stats.Calls.Add(1)
		go c.answer(ctx, &req)
	}
}

func (c *Cluster) answer(ctx context.Context, req *call) {
	body, err := c.handle(ctx, req)
	var a answer
	if err != nil {
		a = wireError(err)
	} else if body != nil {
		b, merr := json.Marshal(body)
		if merr != nil {
			a = answer{Err: merr.Error()}
		} else {
			a.Body = b
		}
	}
	b, _ := json.Marshal(a)
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	pipe := c.rdb.TxPipeline()
	pipe.RPush(pctx, replyKey(req.ID), b)
	pipe.PExpire(pctx, replyKey(req.ID), callTimeout)
	_, _ = pipe.Exec(pctx)
}

// JoinRefused is a join the room's node refused, with its reason and HTTP status.
type JoinRefused struct {
	Reason livekit.DisconnectReason
	Status int
	Msg    string
}

func (e *JoinRefused) Error() string { return e.Msg }

// DisconnectReason lets the websocket layer tell the client why.
func (e *JoinRefused) DisconnectReason() livekit.DisconnectReason { return e.Reason }

// Unwrap gives the HTTP status for the validate endpoint.
func (e *JoinRefused) Unwrap() error { return &auth.Error{Status: e.Status, Reason: e.Msg} }

// wireError keeps what callers act on: the room's sentinel errors, a join's reason and status, a
// Twirp error's code (the Egress API's, answered on another node).
func wireError(err error) answer {
	a := answer{Err: err.Error()}
	switch {
	case errors.Is(err, room.ErrRoomNotFound):
		a.Kind = "room"
	case errors.Is(err, room.ErrParticipantNotFound):
		a.Kind = "participant"
	case errors.Is(err, room.ErrTrackNotFound):
		a.Kind = "track"
	case errors.Is(err, room.ErrRemoteUnmute):
		a.Kind = "unmute"
	case errors.Is(err, ErrUnavailable):
		a.Kind = "unavailable"
	}
	var ee *routing.RoomElsewhereError
	var te twirp.Error
	var dr interface {
		DisconnectReason() livekit.DisconnectReason
	}
	switch {
	case errors.As(err, &ee):
		a.Kind = "elsewhere"
	case errors.As(err, &te):
		a.Kind, a.Code, a.Err = "twirp", string(te.Code()), te.Msg()
	case errors.As(err, &dr):
		a.Kind, a.Reason, a.Status = "join", int32(dr.DisconnectReason()), auth.Status(err)
	}
	return a
}

func (a *answer) error() error {
	switch a.Kind {
	case "room":
		return room.ErrRoomNotFound
	case "participant":
		return room.ErrParticipantNotFound
	case "track":
		return room.ErrTrackNotFound
	case "unmute":
		return room.ErrRemoteUnmute
	case "unavailable":
		return fmt.Errorf("%w (on the room's node): %s", ErrUnavailable, a.Err)
	case "join":
		return &JoinRefused{Reason: livekit.DisconnectReason(a.Reason), Status: a.Status, Msg: a.Err}
	case "elsewhere":
		return &elsewhere{msg: a.Err}
	case "twirp":
		return twirp.NewError(twirp.ErrorCode(a.Code), a.Err)
	}
	return errors.New(a.Err)
}

// elsewhere is a call that reached a node which no longer (or not yet) hosts the room.
type elsewhere struct{ msg string }

func (e *elsewhere) Error() string { return e.msg }
