package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"

	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/store"
)

// ParticipantView is one live participant as the moderation routes show it.
type ParticipantView struct {
	Identity    string      `json:"identity"`
	SID         string      `json:"sid"`
	Name        string      `json:"name"`
	State       string      `json:"state"`
	JoinedAt    time.Time   `json:"joinedAt"`
	IsPublisher bool        `json:"isPublisher"`
	NodeID      string      `json:"nodeId"`
	Tracks      []TrackView `json:"tracks"`
}

// TrackView is one published track.
type TrackView struct {
	SID    string `json:"sid"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`   // audio, video, data
	Source string `json:"source"` // camera, microphone, screen_share, screen_share_audio, unknown
	Muted  bool   `json:"muted"`
}

// MuteRequest is the body of the mute route: one track by sid, or every
// track of a source.
type MuteRequest struct {
	TrackSID *string `json:"trackSid"`
	Source   *string `json:"source"`
	Muted    *bool   `json:"muted"`
}

// MuteReply lists the tracks the call changed.
type MuteReply struct {
	Tracks []TrackView `json:"tracks"`
}

// RemoveReply says whether the participant was connected when removed.
type RemoveReply struct {
	Identity  string `json:"identity"`
	Connected bool   `json:"connected"`
}

var errEdgeUnavailable = &Error{Status: http.StatusBadGateway, Code: "edge_unavailable", Message: "the edge hosting the room did not answer; retry shortly"}

// moderated authenticates a moderation call: a user token whose call role
// in the room (as a join would give it) is owner or moderator.
func (r *request) moderated() (store.Room, error) {
	p, err := r.user()
	if err != nil {
		return store.Room{}, err
	}
	rm, _, err := r.room(p)
	if err != nil {
		return store.Room{}, err
	}
	role, err := r.a.userRole(r, p, rm)
	if err != nil {
		return store.Room{}, err
	}
	if role != grant.RoleOwner && role != grant.RoleModerator {
		return store.Room{}, forbidden("only the room's owner and moderators may moderate it")
	}
	return rm, nil
}

// identity reads the {identity} path parameter (index i).
func (r *request) identity(i int) (string, error) {
	s := r.p.get(i)
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return "", badInput("invalid_id", "identity", "identity: is not a valid participant identity")
	}
	return s, nil
}

// listParticipants: GET /v1/spaces/{spaceId}/rooms/{roomId}/participants.
func (a *API) listParticipants(r *request) error {
	rm, err := r.moderated()
	if err != nil {
		return err
	}
	out := list[ParticipantView]{Items: []ParticipantView{}}
	err = a.onEdges(r.context(), string(rm.ID), func(ctx context.Context, pl placement.Placement, rs livekit.RoomService) error {
		res, err := rs.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: string(rm.ID)})
		if err != nil {
			return err
		}
		for _, p := range res.Participants {
			out.Items = append(out.Items, viewParticipant(p, pl.NodeID))
		}
		return nil
	})
	if err != nil {
		return err
	}
	out.Total = len(out.Items)
	return r.json(http.StatusOK, out)
}

// removeParticipant: POST .../participants/{identity}/remove. The removal
// is recorded first, so a credential issued before it does not bring the
// participant back through a join on this replica.
func (a *API) removeParticipant(r *request) error {
	rm, err := r.moderated()
	if err != nil {
		return err
	}
	id, err := r.identity(2)
	if err != nil {
		return err
	}
	if err := a.revocations.RevokeParticipant(string(rm.ID), id, r.now); err != nil {
		return err
	}
	ans := RemoveReply{Identity: id}
	err = a.onEdges(r.context(), string(rm.ID), func(ctx context.Context, _ placement.Placement, rs livekit.RoomService) error {
		_, err := rs.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: string(rm.ID), Identity: id})
		if err == nil {
			ans.Connected = true
		}
		return err
	})
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, ans)
}

// muteParticipant: POST .../participants/{identity}/mute.
func (a *API) muteParticipant(r *request) error {
	rm, err := r.moderated()
	if err != nil {
		return err
	}
	id, err := r.identity(2)
	if err != nil {
		return err
	}
	q, err := decodeMute(r.c.PostBody())
	if err != nil {
		return err
	}
	muted := *q.Muted
	ans := MuteReply{Tracks: []TrackView{}}
	found := false
	err = a.onEdges(r.context(), string(rm.ID), func(ctx context.Context, _ placement.Placement, rs livekit.RoomService) error {
		p, err := rs.GetParticipant(ctx, &livekit.RoomParticipantIdentity{Room: string(rm.ID), Identity: id})
		if err != nil {
			return err
		}
		found = true
		for _, t := range p.Tracks {
			if (q.TrackSID != nil && t.Sid != *q.TrackSID) || (q.Source != nil && sourceName(t.Source) != *q.Source) {
				continue
			}
			res, err := rs.MutePublishedTrack(ctx, &livekit.MuteRoomTrackRequest{Room: string(rm.ID), Identity: id, TrackSid: t.Sid, Muted: muted})
			if err != nil {
				return err
			}
			if res.Track != nil {
				t = res.Track
			}
			ans.Tracks = append(ans.Tracks, viewTrack(t))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "participant not found in the room"}
	}
	if len(ans.Tracks) == 0 {
		return &Error{Status: http.StatusNotFound, Code: "track_not_found", Message: "the participant publishes no such track"}
	}
	return r.json(http.StatusOK, ans)
}

// decodeMute decodes and checks a mute body.
func decodeMute(body []byte) (MuteRequest, error) {
	var q MuteRequest
	if err := decodeJSON(body, &q); err != nil {
		return q, err
	}
	var c check
	if q.Muted == nil {
		c.fail(invalid("missing_field", "muted", "muted: is required"))
	}
	switch {
	case q.TrackSID == nil && q.Source == nil:
		c.fail(invalid("missing_field", "trackSid", "trackSid: give trackSid or source"))
	case q.TrackSID != nil && q.Source != nil:
		c.fail(invalid("invalid_value", "source", "source: give trackSid or source, not both"))
	case q.TrackSID != nil:
		c.length("trackSid", *q.TrackSID, 1, 64)
	default:
		c.oneOf("source", *q.Source, "camera", "microphone", "screen_share", "screen_share_audio")
	}
	return q, c.err
}

// onEdges calls fn with a RoomService client for every edge hosting room.
// An edge that answers NotFound is skipped; any other failure answers 502.
func (a *API) onEdges(ctx context.Context, room string, fn func(context.Context, placement.Placement, livekit.RoomService) error) error {
	edges, err := a.o.Locator.Locate(ctx, room)
	if errors.Is(err, placement.ErrNoEdge) {
		return nil
	}
	if err != nil {
		return err
	}
	key, secret := a.o.Cluster.SigningSecret()
	tok, err := lkauth.NewAccessToken(key, secret).SetIdentity("spacecast-controlplane").
		SetVideoGrant(&lkauth.VideoGrant{RoomAdmin: true, Room: room}).SetValidFor(time.Minute).ToJWT()
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
		base, err := twirpBase(pl.SignalURL)
		if err != nil {
			a.o.Logger.Warn("edge with an unusable signalling URL", "node", pl.NodeID, "err", err)
			return errEdgeUnavailable
		}
		err = fn(ctx, pl, livekit.NewRoomServiceProtobufClient(base, a.o.EdgeClient))
		var te twirp.Error
		switch {
		case err == nil:
		case errors.As(err, &te) && te.Code() == twirp.NotFound:
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			return err
		default:
			a.o.Logger.Warn("edge room service call failed", "node", pl.NodeID, "room", room, "err", err)
			return errEdgeUnavailable
		}
	}
	return nil
}

// twirpBase turns an edge's signalling URL (ws(s)://host[:port][/prefix])
// into the base URL of its Twirp services (http(s)://host[:port][/prefix]).
func twirpBase(signal string) (string, error) {
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
		return "", errors.New("api: signalling URL scheme " + u.Scheme)
	}
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

func viewParticipant(p *livekit.ParticipantInfo, node string) ParticipantView {
	v := ParticipantView{Identity: p.Identity, SID: p.Sid, Name: p.Name, State: strings.ToLower(p.State.String()),
		JoinedAt: time.Unix(p.JoinedAt, 0).UTC(), IsPublisher: p.IsPublisher, NodeID: node, Tracks: []TrackView{}}
	for _, t := range p.Tracks {
		v.Tracks = append(v.Tracks, viewTrack(t))
	}
	return v
}

func viewTrack(t *livekit.TrackInfo) TrackView {
	return TrackView{SID: t.Sid, Name: t.Name, Kind: strings.ToLower(t.Type.String()), Source: sourceName(t.Source), Muted: t.Muted}
}

func sourceName(s livekit.TrackSource) string { return strings.ToLower(s.String()) }

// refuseRemoved refuses a join of an identity a moderator removed, unless
// the credential (issued at issued; zero for a user token) is newer than
// the removal.
func (a *API) refuseRemoved(room, identity string, issued, now time.Time) error {
	if !a.revocations.ParticipantRevoked(room, identity, issued, now) {
		return nil
	}
	return errRemoved
}

var errRemoved = &Error{Status: http.StatusForbidden, Code: "participant_removed", Message: "a moderator removed this participant from the room"}

// refuseRemovedLink refuses a join through a permanent link (linkID) that
// admitted a participant a moderator has removed since the link was issued
// (at issued): the link is what the removed participant holds, and each of
// its joins gets a new identity ("l_<link>_<suffix>"), so the removal of any
// of them bars it until the participant is invited again (a new link).
func (a *API) refuseRemovedLink(room, linkID string, issued, now time.Time) error {
	if !a.revocations.PrefixRevoked(room, permanentLinkPrefix(linkID), issued, now) {
		return nil
	}
	return errRemoved
}

// permanentLinkPrefix starts the identities a permanent link admits.
func permanentLinkPrefix(linkID string) string { return "l_" + linkID + "_" }
