package recording

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/moderation"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// Errors of recording calls.
var (
	// ErrNotAllowed: the room does not allow recording (isRecordAllowed).
	ErrNotAllowed = errors.New("recording: the room does not allow recording")
	// ErrNoCall: no call is live in the room (no edge hosts it).
	ErrNoCall = errors.New("recording: no call is live in the room")
	// ErrRecording: the room is being recorded already.
	ErrRecording = errors.New("recording: the room is being recorded already")
	// ErrNotRecording: no recording runs in the room (or not that one).
	ErrNotRecording = errors.New("recording: the room is not being recorded")
	// ErrNotReady: the recording has no composed file (it runs, is being
	// processed, or failed before one was made).
	ErrNotReady = errors.New("recording: the recording has no file to download yet")
	// ErrNoStorage: the control plane has no storage to sign links with.
	ErrNoStorage = errors.New("recording: no storage is configured for recordings")
)

// Store is what the Service uses of the store.
type Store interface {
	ApplyRecords(ctx context.Context, edge string, rs []store.RecordUpdate, now time.Time) error
	ListRecords(ctx context.Context, client store.ClientID, space store.SpaceID, room store.RoomID, f store.RecordFilter, p store.Page) ([]store.Record, int, error)
	GetRecord(ctx context.Context, client store.ClientID, space store.SpaceID, room store.RoomID, id store.RecordID) (store.Record, error)
}

// Options are the Service's dependencies.
type Options struct {
	Store   Store
	Locator moderation.RoomLocator
	// Cluster signs the roomRecord tokens.
	Cluster clusterkey.Config
	// Blob signs download links (nil: downloads answer ErrNoStorage).
	Blob blob.Store
	// URLTTL is how long a download link stays valid (0: the store's
	// default, 24 h).
	URLTTL time.Duration
	// EdgeClient makes the Twirp calls; nil means a client with a 10 s
	// timeout.
	EdgeClient *http.Client
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service starts, stops, lists and hands out recordings. It is safe for
// concurrent use.
type Service struct{ o Options }

// New checks o and builds the Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Locator == nil {
		return nil, errors.New("recording: Store and Locator are required")
	}
	if o.EdgeClient == nil {
		o.EdgeClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o}, nil
}

// Start records the live call of m's room: the first of the room's edges
// (by node id) that takes it records the whole room. The recording is
// stored (with its record_started) before Start returns.
func (s *Service) Start(ctx context.Context, m access.ModeratedRoom) (store.Record, error) {
	rm := m.Room()
	if !rm.Flags.IsRecordAllowed {
		return store.Record{}, ErrNotAllowed
	}
	room := string(rm.ID)
	edges, err := s.edges(ctx, room)
	if err != nil {
		return store.Record{}, err
	}
	ctx, err = s.authorized(ctx, room)
	if err != nil {
		return store.Record{}, err
	}
	for _, pl := range edges {
		eg, err := s.egress(pl)
		if err != nil {
			return store.Record{}, err
		}
		info, err := eg.StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: room})
		switch code(err) {
		case "":
		case twirp.NotFound:
			continue // the call left that edge meanwhile
		case twirp.AlreadyExists:
			return store.Record{}, ErrRecording
		default:
			return store.Record{}, s.edgeFailed(pl, room, err)
		}
		started := time.Unix(0, info.StartedAt)
		if info.StartedAt == 0 {
			started = s.o.Now()
		}
		id := store.RecordID(info.EgressId)
		if err := s.o.Store.ApplyRecords(ctx, pl.NodeID, []store.RecordUpdate{{ID: id, Room: rm.ID, State: store.RecordRecording, StartedAt: started}}, s.o.Now()); err != nil {
			return store.Record{}, err
		}
		s.o.Logger.Info("recording started", "room", room, "recording", id, "node", pl.NodeID)
		return s.o.Store.GetRecord(ctx, rm.ClientID, rm.SpaceID, rm.ID, id)
	}
	return store.Record{}, ErrNoCall
}

// Stop stops the recording id of m's room (any recording when id is
// empty), wherever the room's edges say it runs, and answers it as the
// store holds it (its later states follow from the recording edge).
func (s *Service) Stop(ctx context.Context, m access.ModeratedRoom, id store.RecordID) (store.Record, error) {
	rm := m.Room()
	room := string(rm.ID)
	edges, err := s.edges(ctx, room)
	if errors.Is(err, ErrNoCall) {
		return store.Record{}, ErrNotRecording
	}
	if err != nil {
		return store.Record{}, err
	}
	ctx, err = s.authorized(ctx, room)
	if err != nil {
		return store.Record{}, err
	}
	for _, pl := range edges {
		eg, err := s.egress(pl)
		if err != nil {
			return store.Record{}, err
		}
		target := string(id)
		if target == "" {
			l, err := eg.ListEgress(ctx, &livekit.ListEgressRequest{RoomName: room, Active: true})
			if code(err) == twirp.NotFound || (err == nil && len(l.Items) == 0) {
				continue
			}
			if err != nil {
				return store.Record{}, s.edgeFailed(pl, room, err)
			}
			target = l.Items[0].EgressId
		}
		_, err = eg.StopEgress(ctx, &livekit.StopEgressRequest{EgressId: target})
		switch code(err) {
		case "":
			s.o.Logger.Info("recording stopped", "room", room, "recording", target, "node", pl.NodeID)
			return s.o.Store.GetRecord(ctx, rm.ClientID, rm.SpaceID, rm.ID, store.RecordID(target))
		case twirp.NotFound:
			continue
		default:
			return store.Record{}, s.edgeFailed(pl, room, err)
		}
	}
	return store.Record{}, ErrNotRecording
}

// List lists the recordings of m's room matching f, newest first.
func (s *Service) List(ctx context.Context, m access.ModeratedRoom, f store.RecordFilter, p store.Page) ([]store.Record, int, error) {
	rm := m.Room()
	return s.o.Store.ListRecords(ctx, rm.ClientID, rm.SpaceID, rm.ID, f, p)
}

// Download is a link to the composed file of recording id of m's room
// that anyone may fetch until it expires (URLTTL).
func (s *Service) Download(ctx context.Context, m access.ModeratedRoom, id store.RecordID) (string, error) {
	rm := m.Room()
	r, err := s.o.Store.GetRecord(ctx, rm.ClientID, rm.SpaceID, rm.ID, id)
	if err != nil {
		return "", err
	}
	if r.FileKey == "" {
		return "", ErrNotReady
	}
	if s.o.Blob == nil {
		return "", ErrNoStorage
	}
	u, err := s.o.Blob.URL(ctx, r.FileKey, s.o.URLTTL)
	if errors.Is(err, blob.ErrNotFound) {
		return "", fmt.Errorf("%w: its file is gone from the storage", ErrNotReady)
	}
	return u, err
}

// edges are the edges hosting room, by node id.
func (s *Service) edges(ctx context.Context, room string) ([]placement.Placement, error) {
	edges, err := s.o.Locator.Locate(ctx, room)
	if errors.Is(err, placement.ErrNoEdge) || (err == nil && len(edges) == 0) {
		return nil, ErrNoCall
	}
	if err != nil {
		return nil, err
	}
	edges = slices.Clone(edges)
	slices.SortFunc(edges, func(a, b placement.Placement) int { return strings.Compare(a.NodeID, b.NodeID) })
	return edges, nil
}

// authorized carries a one-minute roomRecord token for room.
func (s *Service) authorized(ctx context.Context, room string) (context.Context, error) {
	key, secret := s.o.Cluster.SigningSecret()
	tok, err := grant.RecordToken(key, secret, "spacecast-controlplane", room, time.Minute)
	if err != nil {
		return ctx, fmt.Errorf("recording: token: %w", err)
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	return twirp.WithHTTPRequestHeaders(ctx, h)
}

func (s *Service) egress(pl placement.Placement) (livekit.Egress, error) {
	base, err := moderation.TwirpBase(pl.SignalURL)
	if err != nil {
		s.o.Logger.Warn("edge with an unusable signalling URL", "node", pl.NodeID, "err", err)
		return nil, moderation.ErrEdgeUnavailable
	}
	return livekit.NewEgressProtobufClient(base, s.o.EdgeClient), nil
}

// edgeFailed is an edge's failure as the caller sees it.
func (s *Service) edgeFailed(pl placement.Placement, room string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	s.o.Logger.Warn("edge egress call failed", "node", pl.NodeID, "room", room, "err", err)
	return moderation.ErrEdgeUnavailable
}

// code is a Twirp error's code ("" for nil, Internal for any other error).
func code(err error) twirp.ErrorCode {
	if err == nil {
		return ""
	}
	var te twirp.Error
	if errors.As(err, &te) {
		return te.Code()
	}
	return twirp.Internal
}
