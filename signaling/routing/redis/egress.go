package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/livekit/protocol/livekit"
)

// Egress is this node's egress service as the Egress calls other nodes forward reach it. They
// checked the tokens; nil, nil from StopHere, nil from FindHere and false, nil from DeleteHere:
// no such egress here.
type Egress interface {
	StartHere(req *livekit.EgressInfo) (*livekit.EgressInfo, error)
	StopHere(id, room string) (*livekit.EgressInfo, error)
	ListHere(req *livekit.ListEgressRequest) []*livekit.EgressInfo
	FindHere(id string) *livekit.EgressInfo
	DeleteHere(ctx context.Context, id, room string) (bool, error)
}

// AttachEgress gives the cluster the node's egress service, before Start.
func (c *Cluster) AttachEgress(e Egress) { c.cfg.Egress = e }

// EgressPeers forwards Egress calls to the node that answers them: signaling/egress's Peers.
type EgressPeers struct{ c *Cluster }

// EgressPeers is the cluster as the egress service reaches the other nodes.
func (c *Cluster) EgressPeers() *EgressPeers { return &EgressPeers{c: c} }

// egressArgs name an egress in a forwarded call, with the room the caller may act on ("" any).
type egressArgs struct {
	ID   string `json:"id"`
	Room string `json:"room,omitempty"`
}

// Start starts the egress on the node that hosts its room; nil, nil: no node hosts it.
func (p *EgressPeers) Start(ctx context.Context, req *livekit.EgressInfo) (*livekit.EgressInfo, error) {
	for range 3 {
		owner, _, err := RoomOwner(ctx, p.c.rdb, req.RoomName)
		if err != nil {
			return nil, unavailable(err)
		}
		// Leased here but not open here: a join is opening it; the caller asked before it exists.
		if owner == "" || owner == p.c.cfg.NodeID {
			return nil, nil
		}
		var info pb[*livekit.EgressInfo]
		err = p.c.call(ctx, owner, "egress-start", req.RoomName, wrap(req), &info)
		var el *elsewhere
		if errors.As(err, &el) {
			continue // the room moved meanwhile
		}
		if err != nil {
			return nil, err
		}
		return info.M, nil
	}
	return nil, errors.New("the room kept moving; try again")
}

// Stop stops egress id on the node that records it (see ask).
func (p *EgressPeers) Stop(ctx context.Context, id, room string) (*livekit.EgressInfo, error) {
	args := &egressArgs{ID: id, Room: room}
	var out *livekit.EgressInfo
	_, err := p.ask(ctx, id, func(node string) (bool, error) {
		var info *pb[*livekit.EgressInfo]
		if err := p.c.call(ctx, node, "egress-stop", "", args, &info); err != nil || info == nil {
			return false, err
		}
		out = info.M
		return true, nil
	})
	return out, err
}

// Find returns recording id as the node that has it knows it, and that node's HTTP base URL.
func (p *EgressPeers) Find(ctx context.Context, id string) (*livekit.EgressInfo, string, error) {
	var out *livekit.EgressInfo
	var at string
	found, err := p.ask(ctx, id, func(node string) (bool, error) {
		var info *pb[*livekit.EgressInfo]
		if err := p.c.call(ctx, node, "egress-find", "", &egressArgs{ID: id}, &info); err != nil || info == nil {
			return false, err
		}
		out, at = info.M, node
		return true, nil
	})
	if !found || err != nil {
		return nil, "", err
	}
	nodes, err := p.c.Nodes(ctx)
	if err != nil {
		return nil, "", unavailable(err)
	}
	for _, n := range nodes {
		if n.ID == at {
			u, err := n.HTTPURL()
			return out, u, err
		}
	}
	return nil, "", fmt.Errorf("%w (%s, egress-find)", errNoAnswer, at) // it left the registry meanwhile
}

// Delete deletes recording id of room on the node that has it.
func (p *EgressPeers) Delete(ctx context.Context, id, room string) (bool, error) {
	return p.ask(ctx, id, func(node string) (bool, error) {
		var deleted *bool
		err := p.c.call(ctx, node, "egress-delete", "", &egressArgs{ID: id, Room: room}, &deleted)
		return deleted != nil, err
	})
}

// ask runs try on the node the index names for egress id until try says that node has it;
// failing that (the index has expired, the recording ended and left the index, or its node
// died), on every other live node. A node that does not answer is passed over (it may be dead),
// unless no node has the egress: then its silence is the answer.
func (p *EgressPeers) ask(ctx context.Context, id string, try func(node string) (bool, error)) (bool, error) {
	var silent error
	attempt := func(node string) (bool, error) {
		found, err := try(node)
		if errors.Is(err, errNoAnswer) {
			silent, err = err, nil
		}
		return found || err != nil, err
	}
	indexed, _ := p.c.rdb.Get(ctx, egressKey(id)).Result()
	if indexed != "" {
		if alive, err := p.c.alive(ctx, indexed); err == nil && !alive {
			indexed = "" // its node died: the recording waits in the ledger, no node answers for it
		}
	}
	if indexed != "" && indexed != p.c.cfg.NodeID {
		if done, err := attempt(indexed); done {
			return err == nil, err
		}
	}
	nodes, err := p.c.Nodes(ctx)
	if err != nil {
		return false, unavailable(err)
	}
	for _, n := range nodes {
		if n.ID == p.c.cfg.NodeID || n.ID == indexed {
			continue
		}
		if done, err := attempt(n.ID); done {
			return err == nil, err
		}
	}
	return false, silent
}

// List returns every other live node's egresses that req selects.
func (p *EgressPeers) List(ctx context.Context, req *livekit.ListEgressRequest) []*livekit.EgressInfo {
	nodes, err := p.c.Nodes(ctx)
	if err != nil {
		p.c.log.Warn("list egresses: no node list", "err", err)
		return nil
	}
	// Asked at once: a node that just died (still registered) costs one call's timeout, not one
	// per node after it.
	var (
		mu  sync.Mutex
		out []*livekit.EgressInfo
		wg  sync.WaitGroup
	)
	for _, n := range nodes {
		if n.ID == p.c.cfg.NodeID {
			continue
		}
		wg.Go(func() {
			var infos []*pb[*livekit.EgressInfo]
			if err := p.c.call(ctx, n.ID, "egress-list", "", wrap(req), &infos); err != nil {
				p.c.log.Warn("list egresses of node", "node", n.ID, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, i := range infos {
				out = append(out, i.M)
			}
		})
	}
	wg.Wait()
	return out
}

// handleEgress answers an Egress call another node forwarded.
func (c *Cluster) handleEgress(ctx context.Context, req *call) (any, error) {
	if c.cfg.Egress == nil {
		return nil, errors.New("no egress service on node " + c.cfg.NodeID)
	}
	switch req.Op {
	case "egress-start":
		if !c.leases.Holds(req.Room) {
			return nil, &elsewhere{msg: errNotHere.Error()}
		}
		var a pb[*livekit.EgressInfo]
		if err := json.Unmarshal(req.Args, &a); err != nil {
			return nil, err
		}
		info, err := c.cfg.Egress.StartHere(a.M)
		if err != nil {
			return nil, err
		}
		return wrap(info), nil
	case "egress-stop":
		var a egressArgs
		if err := json.Unmarshal(req.Args, &a); err != nil {
			return nil, err
		}
		info, err := c.cfg.Egress.StopHere(a.ID, a.Room)
		if err != nil || info == nil {
			return nil, err
		}
		return wrap(info), nil
	case "egress-find":
		var a egressArgs
		if err := json.Unmarshal(req.Args, &a); err != nil {
			return nil, err
		}
		if info := c.cfg.Egress.FindHere(a.ID); info != nil {
			return wrap(info), nil
		}
		return nil, nil
	case "egress-delete":
		var a egressArgs
		if err := json.Unmarshal(req.Args, &a); err != nil {
			return nil, err
		}
		// The store's deletion may take as long as the caller waits, no longer.
		ctx, cancel := context.WithDeadline(ctx, req.Deadline)
		defer cancel()
		deleted, err := c.cfg.Egress.DeleteHere(ctx, a.ID, a.Room)
		if err != nil || !deleted {
			return nil, err
		}
		return true, nil
	case "egress-list":
		var a pb[*livekit.ListEgressRequest]
		if err := json.Unmarshal(req.Args, &a); err != nil {
			return nil, err
		}
		var out []*pb[*livekit.EgressInfo]
		for _, i := range c.cfg.Egress.ListHere(a.M) {
			out = append(out, wrap(i))
		}
		return out, nil
	}
	return nil, errors.New("unknown call " + req.Op)
}
