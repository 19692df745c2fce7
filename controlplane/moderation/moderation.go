package moderation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// Errors of moderation calls.
var (
	// ErrEdgeUnavailable: an edge hosting the room did not answer (or
	// answered an error other than not found).
	ErrEdgeUnavailable = errors.New("moderation: the edge hosting the room did not answer")
	// ErrNotConnected: no edge hosting the room has the participant.
	ErrNotConnected = errors.New("moderation: participant not found in the room")
	// ErrNoSuchTrack: the participant publishes no track that matches.
	ErrNoSuchTrack = errors.New("moderation: the participant publishes no such track")
)

// Options are the Service's dependencies.
type Options struct {
	Locator  RoomLocator
	Removals removal.Revocations
	// Cluster signs the roomAdmin tokens.
	Cluster clusterkey.Config
	// EdgeClient makes the Twirp calls; nil means a client with a 5 s
	// timeout and no kept-alive connections (moderation is rare).
	EdgeClient *http.Client
	Logger     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service makes moderators' calls to the edges. It is safe for concurrent
// use.
type Service struct{ o Options }

// New checks o and builds the Service.
func New(o Options) (*Service, error) {
	if o.Locator == nil || o.Removals == nil {
		return nil, errors.New("moderation: Locator and Removals are required")
	}
	if o.EdgeClient == nil {
		o.EdgeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o}, nil
}

// Participant is one live participant and the edge it is connected to.
type Participant struct {
	Info   *livekit.ParticipantInfo
	NodeID string
}

// Tracks selects a participant's tracks: the one with SID, or every track
// of Source.
type Tracks struct {
	SID    string
	Source livekit.TrackSource
	// BySource: Source selects, not SID.
	BySource bool
}

func (t Tracks) match(ti *livekit.TrackInfo) bool {
	if t.BySource {
		return ti.Source == t.Source
	}
	return ti.Sid == t.SID
}

// List lists the participants of m's room on every edge hosting it (none
// when no call is live).
func (s *Service) List(ctx context.Context, m access.ModeratedRoom) ([]Participant, error) {
	room := string(m.Room().ID)
	var out []Participant
	err := s.onEdges(ctx, room, func(ctx context.Context, pl placement.Placement, rs livekit.RoomService) error {
		res, err := rs.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: room})
		if err != nil {
			return err
		}
		for _, p := range res.Participants {
			out = append(out, Participant{Info: p, NodeID: pl.NodeID})
		}
		return nil
	})
	return out, err
}

// Remove removes identity from m's room and keeps it out: the removal is
// recorded first, then every edge hosting the room disconnects it.
// connected tells whether an edge had it connected.
func (s *Service) Remove(ctx context.Context, m access.ModeratedRoom, identity string) (connected bool, err error) {
	room := string(m.Room().ID)
	if err := s.o.Removals.RevokeParticipant(room, identity, s.o.Now()); err != nil {
		return false, fmt.Errorf("moderation: record the removal: %w", err)
	}
	err = s.onEdges(ctx, room, func(ctx context.Context, _ placement.Placement, rs livekit.RoomService) error {
		_, err := rs.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: room, Identity: identity})
		if err == nil {
			connected = true
		}
		return err
	})
	return connected, err
}

// Mute mutes (or unmutes) the tracks of identity in m's room that sel
// selects and answers them as changed.
func (s *Service) Mute(ctx context.Context, m access.ModeratedRoom, identity string, sel Tracks, muted bool) ([]*livekit.TrackInfo, error) {
	room := string(m.Room().ID)
	var changed []*livekit.TrackInfo
	found := false
	err := s.onEdges(ctx, room, func(ctx context.Context, _ placement.Placement, rs livekit.RoomService) error {
		p, err := rs.GetParticipant(ctx, &livekit.RoomParticipantIdentity{Room: room, Identity: identity})
		if err != nil {
			return err
		}
		found = true
		for _, t := range p.Tracks {
			if !sel.match(t) {
				continue
			}
			res, err := rs.MutePublishedTrack(ctx, &livekit.MuteRoomTrackRequest{Room: room, Identity: identity, TrackSid: t.Sid, Muted: muted})
			if err != nil {
				return err
			}
			if res.Track != nil {
				t = res.Track
			}
			changed = append(changed, t)
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, ErrNotConnected
	case len(changed) == 0:
		return nil, ErrNoSuchTrack
	}
	return changed, nil
}

// onEdges calls fn with a RoomService client for every edge hosting room.
// An edge that answers NotFound is skipped; any other failure is
// ErrEdgeUnavailable.
func (s *Service) onEdges(ctx context.Context, room string, fn func(context.Context, placement.Placement, livekit.RoomService) error) error {
	edges, err := s.o.Locator.Locate(ctx, room)
	if errors.Is(err, placement.ErrNoEdge) {
		return nil
	}
	if err != nil {
		return err
	}
	key, secret := s.o.Cluster.SigningSecret()
	tok, err := grant.AdminToken(key, secret, "spacecast-controlplane", room, time.Minute)
	if err != nil {
		return err
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	ctx, err = twirp.WithHTTPRequestHeaders(ctx, h)
	if err != nil {
		return err
	}
	for _, pl := range edges {
		base, err := TwirpBase(pl.SignalURL)
		if err != nil {
			s.o.Logger.Warn("edge with an unusable signalling URL", "node", pl.NodeID, "err", err)
			return ErrEdgeUnavailable
		}
		err = fn(ctx, pl, livekit.NewRoomServiceProtobufClient(base, s.o.EdgeClient))
		var te twirp.Error
		switch {
		case err == nil:
		case errors.As(err, &te) && te.Code() == twirp.NotFound:
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			return err
		default:
			s.o.Logger.Warn("edge room service call failed", "node", pl.NodeID, "room", room, "err", err)
			return ErrEdgeUnavailable
		}
	}
	return nil
}

// TwirpBase turns an edge's signalling URL (ws(s)://host[:port][/prefix])
// into the base URL of its Twirp services (http(s)://host[:port][/prefix]).
func TwirpBase(signal string) (string, error) {
	u, err := url.Parse(signal)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws", "http":
		u.Scheme = "http"
	case "wss", "https":
		u.Scheme = "https"
	default:
		return "", errors.New("moderation: signalling URL scheme " + u.Scheme)
	}
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}
