// Package roomservice serves LiveKit's RoomService API (Twirp, protobuf or JSON over HTTP at
// /twirp/livekit.RoomService/...), so LiveKit's server SDKs and CLI manage Hop rooms: create,
// list and delete rooms; list, update, mute and remove participants; send data. Each call needs a
// token with the grant LiveKit documents for it (roomCreate, roomList, or roomAdmin for the room).
package roomservice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/room"
)

type grantsKey struct{}

// Service implements livekit.RoomService over a node's rooms.
type Service struct {
	rooms Rooms
}

// DefaultMaxBody bounds a request's body when the handler is given no bound.
const DefaultMaxBody = 1 << 20

// methods are the RoomService's method names, the last element of their paths.
var methods = func() map[string]bool {
	m := map[string]bool{}
	sd := livekit.File_livekit_room_proto.Services().ByName("RoomService")
	for i := 0; i < sd.Methods().Len(); i++ {
		m[string(sd.Methods().Get(i).Name())] = true
	}
	return m
}()

// Handler returns the HTTP handler for the RoomService. It authenticates each request's token and
// checks its route before reading any of its body, and reads at most maxBody bytes of it.
func Handler(v *auth.Verifier, rooms Rooms, maxBody int64) http.Handler {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	srv := livekit.NewRoomServiceServer(&Service{rooms: rooms})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			writeTwirpError(w, twirp.NewError(twirp.Unauthenticated, "missing or invalid access token"))
			return
		}
		g, err := v.Verify(tok)
		if err != nil {
			writeTwirpError(w, twirp.NewError(twirp.Unauthenticated, err.Error()))
			return
		}
		if m, ok := strings.CutPrefix(r.URL.Path, Prefix); r.Method != http.MethodPost || !ok || !methods[m] {
			writeTwirpError(w, twirp.NewError(twirp.BadRoute, "no RoomService method at "+r.Method+" "+r.URL.Path))
			return
		}
		body, terr := readBody(w, r, maxBody)
		if terr != nil {
			writeTwirpError(w, terr)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), grantsKey{}, g)))
	})
}

// readBody reads a request's body, refusing one over max bytes as soon as that is known.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, twirp.Error) {
	tooLarge := twirp.NewError(twirp.Malformed, fmt.Sprintf("request body is larger than %d bytes", max))
	if r.ContentLength > max {
		return nil, tooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, twirp.NewError(twirp.Malformed, "reading the request body: "+err.Error())
	}
	return b, nil
}

// Prefix is where the handler must be mounted.
const Prefix = livekit.RoomServicePathPrefix

func writeTwirpError(w http.ResponseWriter, err twirp.Error) {
	_ = twirp.WriteError(w, err)
}

func grants(ctx context.Context) (*auth.Grants, error) {
	g, _ := ctx.Value(grantsKey{}).(*auth.Grants)
	if g == nil || g.Video == nil {
		return nil, twirp.NewError(twirp.Unauthenticated, "missing or invalid access token")
	}
	return g, nil
}

func requireCreate(ctx context.Context) error {
	g, err := grants(ctx)
	if err != nil {
		return err
	}
	if !g.Video.RoomCreate {
		return twirp.NewError(twirp.PermissionDenied, "token lacks the roomCreate grant")
	}
	return nil
}

func requireAdmin(ctx context.Context, roomName string) error {
	g, err := grants(ctx)
	if err != nil {
		return err
	}
	if !g.IsAdmin(roomName) {
		return twirp.NewError(twirp.PermissionDenied, "token lacks the roomAdmin grant for room "+roomName)
	}
	return nil
}

func (s *Service) room(name string) (Room, error) {
	r := s.rooms.Room(name)
	if r == nil {
		return nil, twirp.NewError(twirp.NotFound, "room not found")
	}
	return r, nil
}

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, room.ErrParticipantNotFound), errors.Is(err, room.ErrTrackNotFound), errors.Is(err, room.ErrRoomNotFound):
		return twirp.NewError(twirp.NotFound, err.Error())
	case errors.Is(err, room.ErrRemoteUnmute):
		return twirp.NewError(twirp.PermissionDenied, err.Error())
	}
	return twirp.NewError(twirp.InvalidArgument, err.Error())
}

// CreateRoom implements livekit.RoomService.
func (s *Service) CreateRoom(ctx context.Context, req *livekit.CreateRoomRequest) (*livekit.Room, error) {
	if err := requireCreate(ctx); err != nil {
		return nil, err
	}
	if req.Name == "" || len(req.Name) > 256 {
		return nil, twirp.NewError(twirp.InvalidArgument, "room name must be 1 to 256 characters")
	}
	r, err := s.rooms.CreateRoom(req)
	if err != nil {
		return nil, twirp.NewError(twirp.Unavailable, err.Error())
	}
	return r.Info(), nil
}

// ListRooms implements livekit.RoomService.
func (s *Service) ListRooms(ctx context.Context, req *livekit.ListRoomsRequest) (*livekit.ListRoomsResponse, error) {
	g, err := grants(ctx)
	if err != nil {
		return nil, err
	}
	if !g.Video.RoomList {
		return nil, twirp.NewError(twirp.PermissionDenied, "token lacks the roomList grant")
	}
	want := map[string]bool{}
	for _, n := range req.Names {
		want[n] = true
	}
	resp := &livekit.ListRoomsResponse{}
	for _, r := range s.rooms.Rooms() {
		if len(want) == 0 || want[r.Name()] {
			resp.Rooms = append(resp.Rooms, r.Info())
		}
	}
	return resp, nil
}

// DeleteRoom implements livekit.RoomService.
func (s *Service) DeleteRoom(ctx context.Context, req *livekit.DeleteRoomRequest) (*livekit.DeleteRoomResponse, error) {
	if err := requireCreate(ctx); err != nil {
		return nil, err
	}
	if err := s.rooms.DeleteRoom(req.Room); err != nil {
		return nil, twirp.NewError(twirp.NotFound, err.Error())
	}
	return &livekit.DeleteRoomResponse{}, nil
}

// ListParticipants implements livekit.RoomService.
func (s *Service) ListParticipants(ctx context.Context, req *livekit.ListParticipantsRequest) (*livekit.ListParticipantsResponse, error) {
	if err := requireAdmin(ctx, req.Room); err != nil {
		return nil, err
	}
	r, err := s.room(req.Room)
	if err != nil {
		return nil, err
	}
	return &livekit.ListParticipantsResponse{Participants: r.ParticipantInfos()}, nil
}

// GetParticipant implements livekit.RoomService.
func (s *Service) GetParticipant(ctx context.Context, req *livekit.RoomParticipantIdentity) (*livekit.ParticipantInfo, error) {
	if err := requireAdmin(ctx, req.Room); err != nil {
		return nil, err
	}
	r, err := s.room(req.Room)
	if err != nil {
		return nil, err
	}
	p := r.ParticipantInfo(req.Identity)
	if p == nil {
		return nil, twirp.NewError(twirp.NotFound, "participant not found")
	}
	return p, nil
}

// RemoveParticipant implements livekit.RoomService.
func (s *Service) RemoveParticipant(ctx context.Context, req *livekit.RoomParticipantIdentity) (*livekit.RemoveParticipantResponse, error) {
	if err := requireAdmin(ctx, req.Room); err != nil {
		return nil, err
	}
	r, err := s.room(req.Room)
	if err != nil {
		return nil, err
	}
	if err := r.RemoveParticipant(req.Identity); err != nil {
		return nil, mapErr(err)
	}
	return &livekit.RemoveParticipantResponse{}, nil
}

// MutePublishedTrack implements livekit.RoomService.
func (s *Service) MutePublishedTrack(ctx context.Context, req *livekit.MuteRoomTrackRequest) (*livekit.MuteRoomTrackResponse, error) {
	if err := requireAdmin(ctx, req.Room); err != nil {
		return nil, err
	}
	r, err := s.room(req.Room)
	if err != nil {
		return nil, err
	}
	ti, err := r.MuteTrack(req.Identity, req.TrackSid, req.Muted)
	if err != nil {
		return nil, mapErr(err)
	}
	return &livekit.MuteRoomTrackResponse{Track: ti}, nil
}

// UpdateParticipant implements livekit.RoomService.
func (s *Service) UpdateParticipant(ctx context.Context, req *livekit.UpdateParticipantRequest) (*livekit.ParticipantInfo, error) {
	if err := requireAdmin(ctx, req.Room); err != nil {
		return nil, err
	}
	r, err := s.room(req.Room)
	if err != nil {
		return nil, err
	}
	info, err := r.UpdateParticipant(req)
	return info, mapErr(err)
}

// UpdateSubscriptions implements livekit.RoomService.
func (s *Service) UpdateSubscriptions(ctx context.Context, req *livekit.UpdateSubscriptionsRequest) (*livekit.UpdateSubscriptionsResponse, error) {
	if err := requireAdmin(ctx, req.Room); err != nil {
		return nil, err
	}
	r, err := s.room(req.Room)
	if err != nil {
		return nil, err
	}
	sids := append([]string{}, req.TrackSids...)
	for _, pt := range req.ParticipantTracks {
		sids = append(sids, pt.TrackSids...)
	}
	if err := r.UpdateSubscriptions(req.Identity, sids, req.Subscribe); err != nil {
		return nil, mapErr(err)
	}
	return &livekit.UpdateSubscriptionsResponse{}, nil
}

// SendData implements livekit.RoomService.
func (s *Service) SendData(ctx context.Context, req *livekit.SendDataRequest) (*livekit.SendDataResponse, error) {
	if err := requireAdmin(ctx, req.Room); err != nil {
		return nil, err
	}
	r, err := s.room(req.Room)
	if err != nil {
		return nil, err
	}
	if err := r.SendData(req); err != nil {
		return nil, mapErr(err)
	}
	return &livekit.SendDataResponse{}, nil
}

// UpdateRoomMetadata implements livekit.RoomService.
func (s *Service) UpdateRoomMetadata(ctx context.Context, req *livekit.UpdateRoomMetadataRequest) (*livekit.Room, error) {
	if err := requireAdmin(ctx, req.Room); err != nil {
		return nil, err
	}
	r, err := s.room(req.Room)
	if err != nil {
		return nil, err
	}
	r.SetMetadata(req.Metadata)
	return r.Info(), nil
}

// ForwardParticipant is LiveKit Cloud-only.
func (s *Service) ForwardParticipant(context.Context, *livekit.ForwardParticipantRequest) (*livekit.ForwardParticipantResponse, error) {
	return nil, twirp.NewError(twirp.Unimplemented, "forwarding participants between rooms is not supported")
}

// MoveParticipant is LiveKit Cloud-only.
func (s *Service) MoveParticipant(context.Context, *livekit.MoveParticipantRequest) (*livekit.MoveParticipantResponse, error) {
	return nil, twirp.NewError(twirp.Unimplemented, "moving participants between rooms is not supported")
}

// PerformRpc is for agents, which Hop does not run.
func (s *Service) PerformRpc(context.Context, *livekit.PerformRpcRequest) (*livekit.PerformRpcResponse, error) {
	return nil, twirp.NewError(twirp.Unimplemented, "server-initiated RPC is not supported")
}
