package moderation_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/moderation"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/controlplane/servicetest"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// edge is a fake edge's RoomService: one participant per room it holds.
// Methods the service does not call are left to the embedded nil
// interface.
type edge struct {
	livekit.RoomService
	mu      sync.Mutex
	rooms   map[string]*livekit.ParticipantInfo // room → its participant
	removed []string
	// removedRevoked tells, for each removal, whether it was already
	// recorded when the edge was asked.
	removedRevoked []bool
	removals       removal.Revocations
	now            func() time.Time
}

func (e *edge) ListParticipants(_ context.Context, q *livekit.ListParticipantsRequest) (*livekit.ListParticipantsResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	res := &livekit.ListParticipantsResponse{}
	if p := e.rooms[q.Room]; p != nil {
		res.Participants = append(res.Participants, p)
	}
	return res, nil
}

func (e *edge) participant(room, identity string) (*livekit.ParticipantInfo, error) {
	p := e.rooms[room]
	if p == nil || p.Identity != identity {
		return nil, twirp.NotFoundError("no such participant")
	}
	return p, nil
}

func (e *edge) GetParticipant(_ context.Context, q *livekit.RoomParticipantIdentity) (*livekit.ParticipantInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.participant(q.Room, q.Identity)
}

func (e *edge) RemoveParticipant(_ context.Context, q *livekit.RoomParticipantIdentity) (*livekit.RemoveParticipantResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.participant(q.Room, q.Identity); err != nil {
		return nil, err
	}
	e.removed = append(e.removed, q.Identity)
	e.removedRevoked = append(e.removedRevoked, e.removals.ParticipantRevoked(q.Room, q.Identity, e.now().Add(-time.Second), e.now()))
	delete(e.rooms, q.Room)
	return &livekit.RemoveParticipantResponse{}, nil
}

func (e *edge) MutePublishedTrack(_ context.Context, q *livekit.MuteRoomTrackRequest) (*livekit.MuteRoomTrackResponse, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := e.participant(q.Room, q.Identity)
	if err != nil {
		return nil, err
	}
	for _, t := range p.Tracks {
		if t.Sid == q.TrackSid {
			t.Muted = q.Muted
			return &livekit.MuteRoomTrackResponse{Track: t}, nil
		}
	}
	return nil, twirp.NotFoundError("no such track")
}

// locator names the edges it holds for every room.
type locator []placement.Placement

func (l locator) Locate(context.Context, string) ([]placement.Placement, error) { return l, nil }

type world struct {
	*servicetest.World
	acc      *access.Service
	removals *removal.Set
	edge     *edge
	room     store.Room
	mod      access.ModeratedRoom
}

func newWorld(t *testing.T, edges func(signalURL string) locator) (*world, *moderation.Service) {
	w := &world{World: servicetest.New(t), removals: removal.NewSet(time.Hour, 100)}
	w.acc = w.Access()
	owner := w.User("owner")
	w.room = w.Room(w.Space(owner, true), owner, nil)
	var err error
	if w.mod, err = w.acc.Moderate(w.Ctx, owner, servicetest.Ref(w.room)); err != nil {
		t.Fatal(err)
	}
	w.edge = &edge{removals: w.removals, now: w.Clock.Now, rooms: map[string]*livekit.ParticipantInfo{
		string(w.room.ID): {Identity: "g_ann", Sid: "PA_1", State: livekit.ParticipantInfo_ACTIVE, Tracks: []*livekit.TrackInfo{
			{Sid: "TR_cam", Type: livekit.TrackType_VIDEO, Source: livekit.TrackSource_CAMERA},
			{Sid: "TR_mic", Type: livekit.TrackType_AUDIO, Source: livekit.TrackSource_MICROPHONE},
		}},
	}}
	srv := httptest.NewServer(livekit.NewRoomServiceServer(w.edge))
	t.Cleanup(srv.Close)
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s, err := moderation.New(moderation.Options{Locator: edges(strings.Replace(srv.URL, "http://", "ws://", 1)), Removals: w.removals,
		Cluster: cl, EdgeClient: srv.Client(), Now: w.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return w, s
}

func oneEdge(url string) locator { return locator{{NodeID: "edge-1", SignalURL: url}} }

func TestList(t *testing.T) {
	w, s := newWorld(t, oneEdge)
	ps, err := s.List(w.Ctx, w.mod)
	if err != nil || len(ps) != 1 || ps[0].Info.Identity != "g_ann" || ps[0].NodeID != "edge-1" {
		t.Fatalf("List = %+v, %v", ps, err)
	}
}

// TestMute: by track or by source; a participant that is not connected,
// or a track it does not publish, is an error.
func TestMute(t *testing.T) {
	w, s := newWorld(t, oneEdge)
	tracks, err := s.Mute(w.Ctx, w.mod, "g_ann", moderation.Tracks{BySource: true, Source: livekit.TrackSource_MICROPHONE}, true)
	if err != nil || len(tracks) != 1 || tracks[0].Sid != "TR_mic" || !tracks[0].Muted {
		t.Fatalf("mute the microphone: %+v, %v", tracks, err)
	}
	if tracks, err = s.Mute(w.Ctx, w.mod, "g_ann", moderation.Tracks{SID: "TR_cam"}, true); err != nil || len(tracks) != 1 || tracks[0].Sid != "TR_cam" {
		t.Fatalf("mute the camera by sid: %+v, %v", tracks, err)
	}
	if _, err := s.Mute(w.Ctx, w.mod, "g_ann", moderation.Tracks{BySource: true, Source: livekit.TrackSource_SCREEN_SHARE}, true); !errors.Is(err, moderation.ErrNoSuchTrack) {
		t.Fatalf("a source not published: %v", err)
	}
	if _, err := s.Mute(w.Ctx, w.mod, "g_bob", moderation.Tracks{SID: "TR_cam"}, true); !errors.Is(err, moderation.ErrNotConnected) {
		t.Fatalf("a participant not connected: %v", err)
	}
}

// TestRemove: the removal is recorded before the edge is asked, and stays
// recorded when no edge answers.
func TestRemove(t *testing.T) {
	w, s := newWorld(t, oneEdge)
	connected, err := s.Remove(w.Ctx, w.mod, "g_ann")
	if err != nil || !connected {
		t.Fatalf("Remove = %v, %v", connected, err)
	}
	if len(w.edge.removedRevoked) != 1 || !w.edge.removedRevoked[0] {
		t.Fatal("the edge was asked before the removal was recorded")
	}
	if connected, err := s.Remove(w.Ctx, w.mod, "g_ann"); err != nil || connected {
		t.Fatalf("removing one not connected: %v, %v", connected, err)
	}

	w, s = newWorld(t, func(string) locator { return locator{{NodeID: "edge-gone", SignalURL: "ws://127.0.0.1:1"}} })
	if _, err := s.Remove(w.Ctx, w.mod, "g_ann"); !errors.Is(err, moderation.ErrEdgeUnavailable) {
		t.Fatalf("an edge that does not answer: %v", err)
	}
	if !w.removals.ParticipantRevoked(string(w.room.ID), "g_ann", w.Clock.Now().Add(-time.Second), w.Clock.Now()) {
		t.Fatal("the removal was lost with the edge")
	}
}

// TestNoEdges: a room no edge hosts has no participants.
func TestNoEdges(t *testing.T) {
	w, s := newWorld(t, func(string) locator { return nil })
	if ps, err := s.List(w.Ctx, w.mod); err != nil || len(ps) != 0 {
		t.Fatalf("List = %+v, %v", ps, err)
	}
	if _, err := s.Mute(w.Ctx, w.mod, "g_ann", moderation.Tracks{SID: "TR_cam"}, true); !errors.Is(err, moderation.ErrNotConnected) {
		t.Fatalf("mute with no edge: %v", err)
	}
}
