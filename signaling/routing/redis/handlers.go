package redis

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/room"
	"github.com/hop-meet/hop/signaling/roomservice"
)

// pb carries a protobuf message inside the JSON of a call.
type pb[T proto.Message] struct{ M T }

func (p pb[T]) MarshalJSON() ([]byte, error) { return protojson.Marshal(p.M) }
func (p *pb[T]) UnmarshalJSON(b []byte) error {
	p.M = p.M.ProtoReflect().New().Interface().(T)
	return protojson.Unmarshal(b, p.M)
}

func wrap[T proto.Message](m T) *pb[T] { return &pb[T]{M: m} }

// roomArgs are the arguments of the per-room calls.
type roomArgs struct {
	Identity  string                                 `json:"identity,omitempty"`
	TrackSID  string                                 `json:"track,omitempty"`
	TrackSIDs []string                               `json:"tracks,omitempty"`
	Muted     bool                                   `json:"muted,omitempty"`
	Subscribe bool                                   `json:"subscribe,omitempty"`
	Metadata  string                                 `json:"metadata,omitempty"`
	Update    *pb[*livekit.UpdateParticipantRequest] `json:"update,omitempty"`
	Data      *pb[*livekit.SendDataRequest]          `json:"data,omitempty"`
	Create    *pb[*livekit.CreateRoomRequest]        `json:"create,omitempty"`
}

var errNotHere = errors.New("room not hosted on this node")

// handle runs one call from another node.
func (c *Cluster) handle(ctx context.Context, req *call) (any, error) {
	if req.Op == "open" {
		return c.openHere(ctx, req)
	}
	if req.Op == "check" {
		var w wireJoin
		if err := json.Unmarshal(req.Args, &w); err != nil {
			return nil, err
		}
		return nil, c.cfg.Host.CheckJoin(ctx, w.params())
	}
	if strings.HasPrefix(req.Op, "egress-") {
		return c.handleEgress(ctx, req)
	}
	if req.Op == "list" {
		var out []*pb[*livekit.Room]
		for _, r := range c.cfg.Rooms.Rooms() {
			out = append(out, wrap(r.Info()))
		}
		return out, nil
	}
	var a roomArgs
	if len(req.Args) > 0 {
		if err := json.Unmarshal(req.Args, &a); err != nil {
			return nil, err
		}
	}
	if req.Op == "create" {
		if _, err := c.leases.Claim(ctx, req.Room, c.cfg.NodeID); err != nil {
			return nil, err
		}
		if !c.leases.Holds(req.Room) {
			return nil, &elsewhere{msg: errNotHere.Error()}
		}
		r, err := c.cfg.Rooms.CreateRoom(a.Create.M)
		if err != nil {
			return nil, err
		}
		return wrap(r.Info()), nil
	}
	if !c.leases.Holds(req.Room) {
		return nil, &elsewhere{msg: errNotHere.Error()}
	}
	r := c.cfg.Rooms.Room(req.Room)
	if r == nil {
		return nil, room.ErrRoomNotFound
	}
	return roomOp(r, c.cfg.Rooms, req.Op, &a)
}

func roomOp(r roomservice.Room, rooms roomservice.Rooms, op string, a *roomArgs) (any, error) {
	switch op {
	case "info":
		return wrap(r.Info()), nil
	case "delete":
		return nil, rooms.DeleteRoom(r.Name())
	case "metadata":
		r.SetMetadata(a.Metadata)
		return nil, nil
	case "participants":
		var out []*pb[*livekit.ParticipantInfo]
		for _, p := range r.ParticipantInfos() {
			out = append(out, wrap(p))
		}
		return out, nil
	case "participant":
		p := r.ParticipantInfo(a.Identity)
		if p == nil {
			return nil, room.ErrParticipantNotFound
		}
		return wrap(p), nil
	case "remove":
		return nil, r.RemoveParticipant(a.Identity)
	case "mute":
		t, err := r.MuteTrack(a.Identity, a.TrackSID, a.Muted)
		if err != nil {
			return nil, err
		}
		return wrap(t), nil
	case "update":
		p, err := r.UpdateParticipant(a.Update.M)
		if err != nil {
			return nil, err
		}
		return wrap(p), nil
	case "subscriptions":
		return nil, r.UpdateSubscriptions(a.Identity, a.TrackSIDs, a.Subscribe)
	case "data":
		return nil, r.SendData(a.Data.M)
	}
	return nil, errors.New("unknown call " + op)
}
