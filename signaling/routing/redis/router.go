package redis

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/signaling/routing"
)

// Router is routing.Router for a cluster: a room hosted here runs here, one hosted elsewhere is
// relayed to its node, a room nobody hosts is placed on the least loaded node.
type Router struct{ c *Cluster }

// Router returns the cluster's router.
func (c *Cluster) Router() *Router { return &Router{c: c} }

var _ routing.Router = (*Router)(nil)

// placeWait bounds how long a join waits for a room whose node stopped answering to be free:
// its lease runs out within LeaseTTL.
const placeWait = LeaseTTL + 2*time.Second

// Join implements routing.Router.
func (r *Router) Join(ctx context.Context, p *routing.JoinParams) (routing.Session, error) {
	c := r.c
	deadline := time.Now().Add(placeWait)
	for {
		sess, retry, err := r.try(ctx, p)
		if !retry || time.Now().After(deadline) {
			if err != nil && retry {
				return nil, &JoinRefused{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusServiceUnavailable,
					Msg: "the room's node does not answer: " + err.Error()}
			}
			return sess, refusal(err)
		}
		c.log.Debug("join retried", "room", p.Room, "err", err)
		// The lease has no event to wait on: poll it.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// try makes one attempt; retry says the room's placement is changing under it.
func (r *Router) try(ctx context.Context, p *routing.JoinParams) (routing.Session, bool, error) {
	c := r.c
	owner, _, err := RoomOwner(ctx, c.rdb, p.Room)
	if err != nil {
		return nil, false, unavailable(err)
	}
	if owner != "" && owner != c.cfg.NodeID {
		// Its node may have died: then wait for its lease to run out.
		if ok, err := c.alive(ctx, owner); err != nil {
			return nil, false, unavailable(err)
		} else if !ok {
			return nil, true, errNoAnswer
		}
	}
	if owner == "" {
		if owner, err = c.place(ctx); err != nil {
			return nil, false, err
		}
	}
	var sess routing.Session
	if owner == c.cfg.NodeID {
		sess, err = c.joinHere(ctx, p)
	} else {
		sess, err = c.openRelay(ctx, owner, p)
	}
	var ee *routing.RoomElsewhereError
	var el *elsewhere
	if errors.As(err, &ee) || errors.As(err, &el) || errors.Is(err, errNoAnswer) {
		return nil, true, err
	}
	return sess, false, err
}

// Validate implements routing.Router: the room's node says why a join would fail.
func (r *Router) Validate(ctx context.Context, p *routing.JoinParams) error {
	c := r.c
	owner, _, err := RoomOwner(ctx, c.rdb, p.Room)
	if err != nil {
		return refusal(unavailable(err))
	}
	if owner == "" || owner == c.cfg.NodeID {
		return c.cfg.Host.CheckJoin(ctx, p)
	}
	err = c.call(ctx, owner, "check", p.Room, toWire(p), nil)
	if errors.Is(err, errNoAnswer) {
		return nil // the room is being placed again; a join will wait for it
	}
	return refusal(err)
}

// refusal gives coordination failures the status and reason a client should see.
func refusal(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return &JoinRefused{Reason: livekit.DisconnectReason_JOIN_FAILURE, Status: http.StatusServiceUnavailable, Msg: err.Error()}
	}
	return err
}
