package redis

import (
	"context"
	"errors"

	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/signaling/room"
	"github.com/hop-meet/hop/signaling/roomservice"
)

// Rooms is roomservice.Rooms for a cluster: calls on a room hosted elsewhere go to its node.
type Rooms struct{ c *Cluster }

// Rooms returns the RoomService's view of the cluster's rooms.
func (c *Cluster) Rooms() *Rooms { return &Rooms{c: c} }

var _ roomservice.Rooms = (*Rooms)(nil)

func (rs *Rooms) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// Room implements roomservice.Rooms.
func (rs *Rooms) Room(name string) roomservice.Room {
	ctx, cancel := rs.ctx()
	defer cancel()
	owner, _, err := RoomOwner(ctx, rs.c.rdb, name)
	if err != nil || owner == "" {
		return nil
	}
	if owner == rs.c.cfg.NodeID {
		return rs.c.cfg.Rooms.Room(name)
	}
	r := &remoteRoom{c: rs.c, node: owner, name: name}
	var info pb[*livekit.Room]
	if err := rs.c.call(ctx, owner, "info", name, nil, &info); err != nil {
		return nil
	}
	r.info = info.M
	return r
}

// Rooms implements roomservice.Rooms: this node's rooms and every other live node's.
func (rs *Rooms) Rooms() []roomservice.Room {
	out := rs.c.cfg.Rooms.Rooms()
	ctx, cancel := rs.ctx()
	defer cancel()
	nodes, err := rs.c.Nodes(ctx)
	if err != nil {
		return out
	}
	for _, n := range nodes {
		if n.ID == rs.c.cfg.NodeID {
			continue
		}
		var infos []*pb[*livekit.Room]
		if err := rs.c.call(ctx, n.ID, "list", "", nil, &infos); err != nil {
			rs.c.log.Warn("list rooms of node", "node", n.ID, "err", err)
			continue
		}
		for _, i := range infos {
			out = append(out, &remoteRoom{c: rs.c, node: n.ID, name: i.M.Name, info: i.M})
		}
	}
	return out
}

// CreateRoom implements roomservice.Rooms: on the room's node, or the node placement picks.
func (rs *Rooms) CreateRoom(req *livekit.CreateRoomRequest) (roomservice.Room, error) {
	ctx, cancel := rs.ctx()
	defer cancel()
	for range 3 {
		owner, _, err := RoomOwner(ctx, rs.c.rdb, req.Name)
		if err != nil {
			return nil, unavailable(err)
		}
		if owner == "" {
			if owner, err = rs.c.place(ctx); err != nil {
				return nil, err
			}
		}
		if owner == rs.c.cfg.NodeID {
			if _, err := rs.c.leases.Claim(ctx, req.Name, owner); err != nil {
				return nil, err
			}
			if !rs.c.leases.Holds(req.Name) {
				continue
			}
			return rs.c.cfg.Rooms.CreateRoom(req)
		}
		var info pb[*livekit.Room]
		err = rs.c.call(ctx, owner, "create", req.Name, &roomArgs{Create: wrap(req)}, &info)
		var el *elsewhere
		if errors.As(err, &el) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &remoteRoom{c: rs.c, node: owner, name: req.Name, info: info.M}, nil
	}
	return nil, errors.New("room placement kept changing; try again")
}

// DeleteRoom implements roomservice.Rooms.
func (rs *Rooms) DeleteRoom(name string) error {
	r := rs.Room(name)
	if r == nil {
		return room.ErrRoomNotFound
	}
	if rr, ok := r.(*remoteRoom); ok {
		return rr.do("delete", nil, nil)
	}
	return rs.c.cfg.Rooms.DeleteRoom(name)
}

// remoteRoom is a room on another node.
type remoteRoom struct {
	c    *Cluster
	node string
	name string
	info *livekit.Room
}

func (r *remoteRoom) do(op string, a *roomArgs, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return r.c.call(ctx, r.node, op, r.name, a, out)
}

func (r *remoteRoom) Name() string { return r.name }

func (r *remoteRoom) Info() *livekit.Room {
	var info pb[*livekit.Room]
	if err := r.do("info", nil, &info); err == nil {
		r.info = info.M
	}
	return r.info
}

func (r *remoteRoom) SetMetadata(md string) { _ = r.do("metadata", &roomArgs{Metadata: md}, nil) }

func (r *remoteRoom) ParticipantInfos() []*livekit.ParticipantInfo {
	var ps []*pb[*livekit.ParticipantInfo]
	if err := r.do("participants", nil, &ps); err != nil {
		return nil
	}
	out := make([]*livekit.ParticipantInfo, len(ps))
	for i, p := range ps {
		out[i] = p.M
	}
	return out
}

func (r *remoteRoom) ParticipantInfo(identity string) *livekit.ParticipantInfo {
	var p pb[*livekit.ParticipantInfo]
	if err := r.do("participant", &roomArgs{Identity: identity}, &p); err != nil {
		return nil
	}
	return p.M
}

func (r *remoteRoom) RemoveParticipant(identity string) error {
	return r.do("remove", &roomArgs{Identity: identity}, nil)
}

func (r *remoteRoom) MuteTrack(identity, trackSID string, muted bool) (*livekit.TrackInfo, error) {
	var t pb[*livekit.TrackInfo]
	if err := r.do("mute", &roomArgs{Identity: identity, TrackSID: trackSID, Muted: muted}, &t); err != nil {
		return nil, err
	}
	return t.M, nil
}

func (r *remoteRoom) UpdateParticipant(req *livekit.UpdateParticipantRequest) (*livekit.ParticipantInfo, error) {
	var p pb[*livekit.ParticipantInfo]
	if err := r.do("update", &roomArgs{Update: wrap(req)}, &p); err != nil {
		return nil, err
	}
	return p.M, nil
}

func (r *remoteRoom) UpdateSubscriptions(identity string, trackSIDs []string, subscribe bool) error {
	return r.do("subscriptions", &roomArgs{Identity: identity, TrackSIDs: trackSIDs, Subscribe: subscribe}, nil)
}

func (r *remoteRoom) SendData(req *livekit.SendDataRequest) error {
	return r.do("data", &roomArgs{Data: wrap(req)}, nil)
}
