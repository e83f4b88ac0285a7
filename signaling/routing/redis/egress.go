package redis

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/livekit/protocol/livekit"
)

// Egress is this node's egress service as the Egress calls other nodes forward reach it. They
// checked the tokens; nil, nil from StopHere: no such egress here.
type Egress interface {
	StartHere(req *livekit.EgressInfo) (*livekit.EgressInfo, error)
	StopHere(id, room string) (*livekit.EgressInfo, error)
	ListHere(req *livekit.ListEgressRequest) []*livekit.EgressInfo
}

// AttachEgress gives the cluster the node's egress service, before Start.
func (c *Cluster) AttachEgress(e Egress) { c.cfg.Egress = e }

// EgressPeers forwards Egress calls to the node that answers them: signaling/egress's Peers.
type EgressPeers struct{ c *Cluster }

// EgressPeers is the cluster as the egress service reaches the other nodes.
func (c *Cluster) EgressPeers() *EgressPeers { return &EgressPeers{c: c} }

type stopArgs struct {
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

// Stop stops egress id on the node the index names; failing that (the index has expired, or its
// node died and a node finishes the recording without a new segment) every other live node is asked.
func (p *EgressPeers) Stop(ctx context.Context, id, room string) (*livekit.EgressInfo, error) {
	args := &stopArgs{ID: id, Room: room}
	stop := func(node string) (*livekit.EgressInfo, error) {
		var info *pb[*livekit.EgressInfo]
		if err := p.c.call(ctx, node, "egress-stop", "", args, &info); err != nil || info == nil {
			return nil, err
		}
		return info.M, nil
	}
	indexed, _ := p.c.rdb.Get(ctx, egressKey(id)).Result()
	if indexed != "" && indexed != p.c.cfg.NodeID {
		info, err := stop(indexed)
		if info != nil || (err != nil && !errors.Is(err, errNoAnswer)) {
			return info, err
		}
	}
	nodes, err := p.c.Nodes(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	for _, n := range nodes {
		if n.ID == p.c.cfg.NodeID || n.ID == indexed {
			continue
		}
		info, err := stop(n.ID)
		if info != nil || (err != nil && !errors.Is(err, errNoAnswer)) {
			return info, err
		}
	}
	return nil, nil
}

// List returns every other live node's egresses that req selects.
func (p *EgressPeers) List(ctx context.Context, req *livekit.ListEgressRequest) []*livekit.EgressInfo {
	nodes, err := p.c.Nodes(ctx)
	if err != nil {
		p.c.log.Warn("list egresses: no node list", "err", err)
		return nil
	}
	var out []*livekit.EgressInfo
	for _, n := range nodes {
		if n.ID == p.c.cfg.NodeID {
			continue
		}
		var infos []*pb[*livekit.EgressInfo]
		if err := p.c.call(ctx, n.ID, "egress-list", "", wrap(req), &infos); err != nil {
			p.c.log.Warn("list egresses of node", "node", n.ID, "err", err)
			continue
		}
		for _, i := range infos {
			out = append(out, i.M)
		}
	}
	return out
}

// handleEgress answers an Egress call another node forwarded.
func (c *Cluster) handleEgress(req *call) (any, error) {
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
		var a stopArgs
		if err := json.Unmarshal(req.Args, &a); err != nil {
			return nil, err
		}
		info, err := c.cfg.Egress.StopHere(a.ID, a.Room)
		if err != nil || info == nil {
			return nil, err
		}
		return wrap(info), nil
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
