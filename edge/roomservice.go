package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/spacecast/spacecast/edge/recorder"
	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/edge/token"
)

// roomService implements LiveKit's RoomService over Twirp for this edge's
// rooms, so server-sdk-go's RoomServiceClient and the control plane can
// moderate. Calls need a token with roomAdmin (for that room), roomList or
// roomCreate, as LiveKit's server asks.
type roomService struct{ e *Edge }

type callerKey struct{}

// caller is who makes a RoomService call: the token's grants and when it
// was issued (zero: the token does not say).
type caller struct {
	grants *auth.ClaimGrants
	issued time.Time
}

func (e *Edge) roomService() http.Handler {
	return e.twirpService(livekit.NewRoomServiceServer(roomService{e}), token.AnyService, "roomAdmin, roomList or roomCreate grant required")
}

// twirpService authenticates the calls of a Twirp service: a token that
// allows some call of it (allowed; else 403 with need), a bounded body,
// a caller not removed from the token's room.
func (e *Edge) twirpService(srv http.Handler, allowed func(*auth.ClaimGrants) bool, need string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, iat, err := e.verifier.VerifyIssued(bearer(r))
		if err != nil {
			_ = twirp.WriteError(w, twirp.NewError(twirp.Unauthenticated, err.Error()))
			return
		}
		// Nothing is read before the token is known to allow some call,
		// and then at most MaxBodyBytes.
		if !allowed(g) {
			_ = twirp.WriteError(w, twirpError(fmt.Errorf("%w: %s", token.ErrForbidden, need)))
			return
		}
		if max := e.cfg.HTTP.MaxBodyBytes; r.ContentLength > max {
			writeTooLarge(w, max)
			return
		} else {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		// A moderator removed from the room (here or anywhere in the
		// cluster) holds a token with roomAdmin that must no longer work:
		// the same check as a join.
		if e.callerRevoked(g, iat) {
			_ = twirp.WriteError(w, twirpError(ErrRevoked))
			return
		}
		ctx := context.WithValue(r.Context(), callerKey{}, caller{grants: g, issued: iat})
		srv.ServeHTTP(w, r.WithContext(ctx))
	})
}

// writeTooLarge answers a body over max bytes: 413 with a Twirp error
// body, so Twirp clients read the reason.
func writeTooLarge(w http.ResponseWriter, max int64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
	_, _ = fmt.Fprintf(w, `{"code":"resource_exhausted","msg":"request body over %d bytes"}`, max)
}

// callerRevoked reports whether the identity of a RoomService token was
// removed from the token's room (or revoked cluster-wide) after the token
// was issued.
func (e *Edge) callerRevoked(g *auth.ClaimGrants, issued time.Time) bool {
	if g == nil || g.Identity == "" {
		return false
	}
	roomName := ""
	if g.Video != nil {
		roomName = g.Video.Room
	}
	if e.revoked != nil && e.revoked(roomName, g.Identity, issued) {
		return true
	}
	if roomName == "" {
		return false
	}
	r := e.rooms.Room(roomName)
	return r != nil && r.Removed(g.Identity, issued)
}

func grants(ctx context.Context) *auth.ClaimGrants {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c.grants
}

// twirpError maps errors to Twirp codes: the one place that does.
func twirpError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, token.ErrForbidden), errors.Is(err, ErrRevoked):
		return twirp.NewError(twirp.PermissionDenied, err.Error())
	case errors.Is(err, room.ErrNotFound), errors.Is(err, room.ErrNotRecording), errors.Is(err, recorder.ErrNoRoom):
		return twirp.NewError(twirp.NotFound, err.Error())
	case errors.Is(err, room.ErrRecording):
		return twirp.NewError(twirp.AlreadyExists, err.Error())
	case errors.Is(err, recorder.ErrClosed), errors.Is(err, room.ErrClosed):
		return twirp.NewError(twirp.Unavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return twirp.NewError(twirp.DeadlineExceeded, err.Error())
	}
	return twirp.InternalErrorWith(err)
}

func (s roomService) admin(ctx context.Context, name string) (*room.Room, error) {
	if err := token.Admin(grants(ctx), name); err != nil {
		return nil, twirpError(err)
	}
	r := s.e.rooms.Room(name)
	if r == nil {
		return nil, twirp.NewError(twirp.NotFound, "room "+name+" not found on this edge")
	}
	return r, nil
}

func (s roomService) participant(ctx context.Context, roomName, identity string) (*room.Participant, error) {
	r, err := s.admin(ctx, roomName)
	if err != nil {
		return nil, err
	}
	p := r.Participant(identity)
	if p == nil {
		return nil, twirp.NewError(twirp.NotFound, "participant "+identity+" not found")
	}
	return p, nil
}

func (s roomService) CreateRoom(ctx context.Context, req *livekit.CreateRoomRequest) (*livekit.Room, error) {
	return nil, twirp.NewError(twirp.Unimplemented, "rooms are created by the control plane and opened on first join")
}

func (s roomService) ListRooms(ctx context.Context, req *livekit.ListRoomsRequest) (*livekit.ListRoomsResponse, error) {
	if err := token.List(grants(ctx)); err != nil {
		return nil, twirpError(err)
	}
	want := map[string]bool{}
	for _, n := range req.Names {
		want[n] = true
	}
	out := &livekit.ListRoomsResponse{}
	for _, r := range s.e.rooms.Rooms() {
		if len(want) == 0 || want[r.Name()] {
			out.Rooms = append(out.Rooms, r.Proto())
		}
	}
	return out, nil
}

func (s roomService) DeleteRoom(ctx context.Context, req *livekit.DeleteRoomRequest) (*livekit.DeleteRoomResponse, error) {
	g := grants(ctx)
	if token.Create(g) != nil {
		if err := token.Admin(g, req.Room); err != nil {
			return nil, twirpError(err)
		}
	}
	if r := s.e.rooms.Room(req.Room); r != nil {
		r.Close(livekit.DisconnectReason_ROOM_DELETED)
	}
	return &livekit.DeleteRoomResponse{}, nil
}

func (s roomService) ListParticipants(ctx context.Context, req *livekit.ListParticipantsRequest) (*livekit.ListParticipantsResponse, error) {
	r, err := s.admin(ctx, req.Room)
	if err != nil {
		return nil, err
	}
	out := &livekit.ListParticipantsResponse{}
	for _, p := range r.Participants() {
		out.Participants = append(out.Participants, p.Info())
	}
	// The room's participants on other edges too: the room spans them.
	out.Participants = append(out.Participants, r.RemoteParticipants()...)
	return out, nil
}

func (s roomService) GetParticipant(ctx context.Context, req *livekit.RoomParticipantIdentity) (*livekit.ParticipantInfo, error) {
	if r, err := s.admin(ctx, req.Room); err == nil && r.Participant(req.Identity) == nil {
		if info := r.RemoteParticipant(req.Identity); info != nil {
			return info, nil
		}
	}
	p, err := s.participant(ctx, req.Room, req.Identity)
	if err != nil {
		return nil, err
	}
	return p.Info(), nil
}

func (s roomService) RemoveParticipant(ctx context.Context, req *livekit.RoomParticipantIdentity) (*livekit.RemoveParticipantResponse, error) {
	if err := token.Admin(grants(ctx), req.Room); err != nil {
		return nil, twirpError(err)
	}
	// Recorded first, as the REST removal does: whether or not the
	// participant is on this edge, the cluster bars its credentials and
	// the edge that hosts it evicts it.
	at := time.Now()
	if s.e.revoke != nil && req.Identity != "" {
		if err := s.e.revoke(req.Room, req.Identity, at); err != nil {
			s.e.log.Error("removal not recorded", "room", req.Room, "participant", req.Identity, "error", err)
			return nil, twirpError(fmt.Errorf("edge: record the removal: %w", err))
		}
	}
	r := s.e.rooms.Room(req.Room)
	if r == nil {
		return nil, twirp.NewError(twirp.NotFound, "room "+req.Room+" not found on this edge")
	}
	p := r.Participant(req.Identity)
	if p == nil {
		// On another edge of the room: that edge removes it (the gossiped
		// revocation reaches it too, this is the direct way).
		gone, ok, err := r.RemoveRemote(ctx, req.Identity, at)
		if !ok {
			return nil, twirp.NewError(twirp.NotFound, "participant "+req.Identity+" not found")
		}
		if err != nil {
			return nil, twirpError(err)
		}
		select {
		case <-gone:
		case <-ctx.Done():
			return nil, twirpError(ctx.Err())
		}
		return &livekit.RemoveParticipantResponse{}, nil
	}
	r.RemoveAt(p, at)
	select {
	case <-p.Done():
	case <-ctx.Done():
		return nil, twirpError(ctx.Err())
	}
	return &livekit.RemoveParticipantResponse{}, nil
}

func (s roomService) MutePublishedTrack(ctx context.Context, req *livekit.MuteRoomTrackRequest) (*livekit.MuteRoomTrackResponse, error) {
	if r, err := s.admin(ctx, req.Room); err == nil && r.Participant(req.Identity) == nil && r.RemoteParticipant(req.Identity) != nil {
		info, err := r.MuteRemote(ctx, req.Identity, req.TrackSid, req.Muted)
		if err != nil {
			return nil, twirpError(err)
		}
		return &livekit.MuteRoomTrackResponse{Track: info}, nil
	}
	p, err := s.participant(ctx, req.Room, req.Identity)
	if err != nil {
		return nil, err
	}
	info, err := p.MuteTrack(ctx, req.TrackSid, req.Muted)
	if err != nil {
		return nil, twirpError(err)
	}
	return &livekit.MuteRoomTrackResponse{Track: info}, nil
}

func (s roomService) UpdateParticipant(ctx context.Context, req *livekit.UpdateParticipantRequest) (*livekit.ParticipantInfo, error) {
	p, err := s.participant(ctx, req.Room, req.Identity)
	if err != nil {
		return nil, err
	}
	var name, md *string
	if req.Name != "" {
		name = &req.Name
	}
	if req.Metadata != "" {
		md = &req.Metadata
	}
	info, err := p.Update(ctx, name, md, req.Attributes, req.Permission)
	return info, twirpError(err)
}

func (s roomService) UpdateSubscriptions(ctx context.Context, req *livekit.UpdateSubscriptionsRequest) (*livekit.UpdateSubscriptionsResponse, error) {
	p, err := s.participant(ctx, req.Room, req.Identity)
	if err != nil {
		return nil, err
	}
	if err := p.UpdateSubscriptions(ctx, req.TrackSids, req.ParticipantTracks, req.Subscribe); err != nil {
		return nil, twirpError(err)
	}
	return &livekit.UpdateSubscriptionsResponse{}, nil
}

func (s roomService) SendData(ctx context.Context, req *livekit.SendDataRequest) (*livekit.SendDataResponse, error) {
	r, err := s.admin(ctx, req.Room)
	if err != nil {
		return nil, err
	}
	if len(req.Data) > 64<<10 {
		return nil, twirp.NewError(twirp.InvalidArgument, "data over 64 KiB")
	}
	dest := append([]string(nil), req.DestinationIdentities...)
	//lint:ignore SA1019 RoomService callers may still address data by participant sid
	if len(req.DestinationSids) > 0 {
		for _, p := range r.Participants() {
			//lint:ignore SA1019 RoomService callers may still address data by participant sid
			for _, sid := range req.DestinationSids {
				if p.SID() == sid {
					dest = append(dest, p.Identity())
				}
			}
		}
	}
	//lint:ignore SA1019 livekit-client still reads the user packet's own destinations
	user := &livekit.UserPacket{Payload: req.Data, Topic: req.Topic, Nonce: req.Nonce, DestinationIdentities: dest}
	//lint:ignore SA1019 livekit-client still sends and reads DataPacket.kind
	pkt := &livekit.DataPacket{Kind: req.Kind, DestinationIdentities: dest, Value: &livekit.DataPacket_User{User: user}}
	r.SendData(pkt, req.Kind, dest)
	return &livekit.SendDataResponse{}, nil
}

func (s roomService) UpdateRoomMetadata(ctx context.Context, req *livekit.UpdateRoomMetadataRequest) (*livekit.Room, error) {
	r, err := s.admin(ctx, req.Room)
	if err != nil {
		return nil, err
	}
	r.SetMetadata(req.Metadata)
	return r.Proto(), nil
}

func (s roomService) ForwardParticipant(context.Context, *livekit.ForwardParticipantRequest) (*livekit.ForwardParticipantResponse, error) {
	return nil, twirp.NewError(twirp.Unimplemented, "ForwardParticipant is not supported")
}

func (s roomService) MoveParticipant(context.Context, *livekit.MoveParticipantRequest) (*livekit.MoveParticipantResponse, error) {
	return nil, twirp.NewError(twirp.Unimplemented, "MoveParticipant is not supported")
}

func (s roomService) PerformRpc(context.Context, *livekit.PerformRpcRequest) (*livekit.PerformRpcResponse, error) {
	return nil, twirp.NewError(twirp.Unimplemented, "PerformRpc is not supported")
}
