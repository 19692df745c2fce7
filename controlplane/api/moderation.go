package api

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/livekit/protocol/livekit"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/moderation"
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

// identity reads the {identity} path parameter (index i).
func (r *request) identity(i int) (string, error) {
	s := r.p.get(i)
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return "", badInput("invalid_id", "identity", "identity: is not a valid participant identity")
	}
	return s, nil
}

// moderated is the room of the path for a caller that moderates it.
func (r *request) moderated() (access.ModeratedRoom, error) {
	ref, err := r.roomRef()
	if err != nil {
		return access.ModeratedRoom{}, err
	}
	return r.a.o.Access.Moderate(r.context(), r.caller, ref)
}

// listParticipants: GET /v1/spaces/{spaceId}/rooms/{roomId}/participants.
func (a *API) listParticipants(r *request) error {
	m, err := r.moderated()
	if err != nil {
		return err
	}
	ps, err := a.o.Moderation.List(r.context(), m)
	if err != nil {
		return err
	}
	out := list[ParticipantView]{Items: make([]ParticipantView, 0, len(ps)), Total: len(ps)}
	for _, p := range ps {
		out.Items = append(out.Items, viewParticipant(p.Info, p.NodeID))
	}
	return r.json(http.StatusOK, out)
}

// removeParticipant: POST .../participants/{identity}/remove.
func (a *API) removeParticipant(r *request) error {
	m, err := r.moderated()
	if err != nil {
		return err
	}
	id, err := r.identity(2)
	if err != nil {
		return err
	}
	connected, err := a.o.Moderation.Remove(r.context(), m, id)
	if err != nil {
		return err
	}
	return r.json(http.StatusOK, RemoveReply{Identity: id, Connected: connected})
}

// muteParticipant: POST .../participants/{identity}/mute.
func (a *API) muteParticipant(r *request) error {
	m, err := r.moderated()
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
	sel := moderation.Tracks{}
	if q.Source != nil {
		sel.BySource, sel.Source = true, livekit.TrackSource(livekit.TrackSource_value[strings.ToUpper(*q.Source)])
	} else {
		sel.SID = *q.TrackSID
	}
	tracks, err := a.o.Moderation.Mute(r.context(), m, id, sel, *q.Muted)
	if err != nil {
		return err
	}
	ans := MuteReply{Tracks: make([]TrackView, 0, len(tracks))}
	for _, t := range tracks {
		ans.Tracks = append(ans.Tracks, viewTrack(t))
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
