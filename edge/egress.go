package edge

import (
	"context"
	"fmt"
	"net/http"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/spacecast/spacecast/edge/recorder"
	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/edge/token"
)

// egressService implements the recording part of LiveKit's Egress service
// over Twirp: a room composite egress is the room's recording
// (edge/recorder), which this edge makes of the whole room, whatever the
// number of edges the room spans. StartRoomCompositeEgress,
// StopEgress and ListEgress need a token with roomRecord for the room (the
// control plane's, or a moderator's media token when the room allows
// recording); the other methods are not served.
type egressService struct{ e *Edge }

func (e *Edge) egressService() http.Handler {
	return e.twirpService(livekit.NewEgressServer(egressService{e}), func(g *auth.ClaimGrants) bool {
		return g != nil && g.Video != nil && g.Video.RoomRecord
	}, "roomRecord grant required")
}

// recording is the edge's recorder, or a Twirp error when recording is
// not enabled here.
func (s egressService) recording() (*recorder.Service, error) {
	if s.e.recorder == nil {
		return nil, twirp.NewError(twirp.Unavailable, "recording is not enabled on this edge")
	}
	return s.e.recorder, nil
}

func (s egressService) StartRoomCompositeEgress(ctx context.Context, req *livekit.RoomCompositeEgressRequest) (*livekit.EgressInfo, error) {
	if err := token.Record(grants(ctx), req.RoomName); err != nil {
		return nil, twirpError(err)
	}
	rec, err := s.recording()
	if err != nil {
		return nil, err
	}
	info, err := rec.Start(req.RoomName)
	if err != nil {
		return nil, twirpError(err)
	}
	return &livekit.EgressInfo{EgressId: info.ID, RoomName: req.RoomName, RoomId: s.roomSID(req.RoomName),
		Status: livekit.EgressStatus_EGRESS_ACTIVE, StartedAt: info.StartedAt.UnixNano(), UpdatedAt: info.StartedAt.UnixNano(),
		Request: &livekit.EgressInfo_RoomComposite{RoomComposite: req}}, nil
}

func (s egressService) StopEgress(ctx context.Context, req *livekit.StopEgressRequest) (*livekit.EgressInfo, error) {
	r, info, ok := s.find(req.EgressId)
	if !ok {
		return nil, twirp.NewError(twirp.NotFound, "no recording "+req.EgressId+" on this edge's rooms")
	}
	if err := token.Record(grants(ctx), r.Name()); err != nil {
		return nil, twirpError(err)
	}
	rec, err := s.recording()
	if err != nil {
		return nil, err
	}
	if err := rec.Stop(ctx, r.Name(), info.ID); err != nil {
		return nil, twirpError(err)
	}
	out := s.info(r, info)
	out.Status = livekit.EgressStatus_EGRESS_ENDING
	return out, nil
}

func (s egressService) ListEgress(ctx context.Context, req *livekit.ListEgressRequest) (*livekit.ListEgressResponse, error) {
	if err := token.Record(grants(ctx), req.RoomName); err != nil {
		return nil, twirpError(err)
	}
	out := &livekit.ListEgressResponse{}
	for _, r := range s.e.rooms.Rooms() {
		if req.RoomName != "" && r.Name() != req.RoomName {
			continue
		}
		if info, ok := r.Recording(); ok && (req.EgressId == "" || req.EgressId == info.ID) {
			out.Items = append(out.Items, s.info(r, info))
		}
	}
	return out, nil
}

// find is the room of this edge in which recording id runs (here or on
// another edge of the room).
func (s egressService) find(id string) (*room.Room, room.RecordingInfo, bool) {
	for _, r := range s.e.rooms.Rooms() {
		if info, ok := r.Recording(); ok && info.ID == id {
			return r, info, true
		}
	}
	return nil, room.RecordingInfo{}, false
}

func (s egressService) info(r *room.Room, info room.RecordingInfo) *livekit.EgressInfo {
	return &livekit.EgressInfo{EgressId: info.ID, RoomName: r.Name(), RoomId: r.Proto().Sid, Status: livekit.EgressStatus_EGRESS_ACTIVE,
		StartedAt: info.StartedAt.UnixNano(), UpdatedAt: info.StartedAt.UnixNano(),
		Request: &livekit.EgressInfo_RoomComposite{RoomComposite: &livekit.RoomCompositeEgressRequest{RoomName: r.Name()}}}
}

func (s egressService) roomSID(name string) string {
	if r := s.e.rooms.Room(name); r != nil {
		return r.Proto().Sid
	}
	return ""
}

func unsupported(what string) error {
	return twirp.NewError(twirp.Unimplemented, fmt.Sprintf("%s is not supported: this edge records rooms (StartRoomCompositeEgress)", what))
}

func (egressService) StartEgress(context.Context, *livekit.StartEgressRequest) (*livekit.EgressInfo, error) {
	return nil, unsupported("StartEgress")
}

func (egressService) UpdateLayout(context.Context, *livekit.UpdateLayoutRequest) (*livekit.EgressInfo, error) {
	return nil, unsupported("UpdateLayout")
}

func (egressService) UpdateStream(context.Context, *livekit.UpdateStreamRequest) (*livekit.EgressInfo, error) {
	return nil, unsupported("UpdateStream")
}

func (egressService) StartWebEgress(context.Context, *livekit.WebEgressRequest) (*livekit.EgressInfo, error) {
	return nil, unsupported("StartWebEgress")
}

func (egressService) StartParticipantEgress(context.Context, *livekit.ParticipantEgressRequest) (*livekit.EgressInfo, error) {
	return nil, unsupported("StartParticipantEgress")
}

func (egressService) StartTrackCompositeEgress(context.Context, *livekit.TrackCompositeEgressRequest) (*livekit.EgressInfo, error) {
	return nil, unsupported("StartTrackCompositeEgress")
}

func (egressService) StartTrackEgress(context.Context, *livekit.TrackEgressRequest) (*livekit.EgressInfo, error) {
	return nil, unsupported("StartTrackEgress")
}
