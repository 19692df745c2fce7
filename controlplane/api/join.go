package api

import (
	"bytes"
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/join"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/internal/requestid"
	"github.com/spacecast/spacecast/internal/turncred"
)

// JoinRequest is the body of POST /v1/rooms/{alias}/join. Every field is
// optional; an empty body joins a public room as a guest.
type JoinRequest struct {
	// AccessToken is a generate-access token (spent on use unless permanent).
	AccessToken string `json:"accessToken"`
	// SessionToken is the session credential of an earlier join (reconnect).
	SessionToken string `json:"sessionToken"`
	// EmbedToken is a single-use embed token (POST .../embed-token): the
	// integrator's backend signs its user in to the room page without
	// putting a long-lived token in the page's URL.
	EmbedToken      string           `json:"embedToken"`
	ParticipantName string           `json:"participantName"`
	RegionHint      string           `json:"regionHint"`
	RTTs            map[string]int64 `json:"rtts"` // region → measured RTT in ms
}

// JoinAnswer is what a join returns: who the participant is, what it may
// do, where to connect, and how to come back.
type JoinAnswer struct {
	// Status is "joined": the participant connects to Edge with
	// MediaToken. A participant made to wait gets a WaitingAnswer
	// (status "waiting", HTTP 202) instead.
	Status     string       `json:"status"`
	Identity   string       `json:"identity"`
	Name       string       `json:"name"`
	Role       grant.Role   `json:"role"`
	Grants     grant.Grants `json:"grants"`
	Room       RoomView     `json:"room"`
	Session    Session      `json:"session"`
	Edge       Edge         `json:"edge"`
	MediaToken string       `json:"mediaToken"`
	// MediaTokenExpiresAt is when MediaToken stops being accepted for a new
	// connection.
	MediaTokenExpiresAt time.Time            `json:"mediaTokenExpiresAt"`
	ICEServers          []turncred.ICEServer `json:"iceServers"`
}

// Session is the reconnect credential: a later join accepts Token in place
// of the spent link.
type Session struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Edge is the media edge chosen for the participant.
type Edge struct {
	URL    string `json:"url"` // LiveKit signalling base URL (ws:// or wss://)
	Region string `json:"region"`
	NodeID string `json:"nodeId"`
}

func (q *JoinRequest) validate() error {
	var c check
	c.length("participantName", q.ParticipantName, 0, 100)
	c.length("regionHint", q.RegionHint, 0, 64)
	if len(q.AccessToken) > 4096 {
		c.fail(invalid("too_long", "accessToken", "accessToken: too long"))
	}
	if len(q.SessionToken) > 4096 {
		c.fail(invalid("too_long", "sessionToken", "sessionToken: too long"))
	}
	if len(q.EmbedToken) > 4096 {
		c.fail(invalid("too_long", "embedToken", "embedToken: too long"))
	}
	if len(q.RTTs) > 64 {
		c.fail(invalid("too_long", "rtts", "rtts: at most 64 regions"))
	}
	for region, ms := range q.RTTs {
		c.length("rtts", region, 1, 64)
		c.between("rtts."+region, ms, 0, 60000)
	}
	return c.err
}

// decodeJoin decodes a join body; an empty body is an empty request.
func decodeJoin(body []byte) (JoinRequest, error) {
	var q JoinRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeJSON(body, &q); err != nil {
			return q, err
		}
	}
	return q, q.validate()
}

// joinRoom: POST /v1/rooms/{alias}/join. The join service reads the
// credential (join.Request's order of precedence). Each join is counted
// by outcome (ok, waiting, or the error code answered) and the region
// placed in.
func (a *API) joinRoom(r *request) error {
	start := time.Now()
	ans, err := a.join(r)
	outcome, region := "ok", ""
	switch {
	case err != nil:
		outcome = classify(err).Code
	case ans.Waiting != nil:
		outcome = "waiting"
	default:
		region = ans.Edge.Region
		a.o.Metrics.TokenIssued("media")
	}
	a.o.Metrics.Join(outcome, region, time.Since(start))
	if err != nil {
		return err
	}
	return r.answerJoin(ans)
}

// join serves a join: the participant admitted, or waiting.
func (a *API) join(r *request) (join.Answer, error) {
	alias := r.p.get(0)
	if !validAlias(alias) {
		return join.Answer{}, badInput("invalid_id", "alias", "alias: is not a valid room alias")
	}
	if err := r.limit(a.o.JoinPerAddress, "joinPerAddress", "j:"+r.addrKey(), "joins from your address"); err != nil {
		return join.Answer{}, err
	}
	q, err := decodeJoin(r.c.PostBody())
	if err != nil {
		return join.Answer{}, err
	}
	req := join.Request{Alias: alias, SessionToken: q.SessionToken, AccessToken: q.AccessToken, EmbedToken: q.EmbedToken,
		Bearer: r.bearer(), ParticipantName: q.ParticipantName, RegionHint: q.RegionHint, ClientAddr: r.clientAddr(),
		RequestID: r.requestID(),
		// Each guest join mints an identity and a media token out of
		// nothing: its own, tighter limit.
		AdmitGuest: func() error {
			return r.limit(a.o.GuestJoinPerAddress, "guestJoinPerAddress", "g:"+r.addrKey(), "guest joins from your address")
		}}
	req.RTTs = rtts(q.RTTs)
	return a.o.Join.Join(r.context(), req)
}

// requestID is the request's id (the server set a valid one), for the
// media token of a join.
func (r *request) requestID() string {
	return requestid.Or(string(r.c.Request.Header.Peek(requestid.Header)))
}

// rtts converts measured round trips in ms.
func rtts(ms map[string]int64) map[string]time.Duration {
	if len(ms) == 0 {
		return nil
	}
	out := make(map[string]time.Duration, len(ms))
	for k, v := range ms {
		out[k] = time.Duration(v) * time.Millisecond
	}
	return out
}

// joinAnswer is the wire form of a join's answer.
func joinAnswer(ans join.Answer) JoinAnswer {
	out := JoinAnswer{
		Status:   "joined",
		Identity: ans.Identity, Name: ans.Name, Role: ans.Role, Grants: ans.Grants, Room: viewRoom(ans.Room, ""),
		Session:    Session{Token: ans.SessionToken, ExpiresAt: ans.SessionExpiresAt},
		Edge:       Edge{URL: ans.Edge.SignalURL, Region: ans.Edge.Region, NodeID: ans.Edge.NodeID},
		MediaToken: ans.MediaToken, MediaTokenExpiresAt: ans.MediaTokenExpiresAt,
		ICEServers: []turncred.ICEServer{},
	}
	if len(ans.Edge.TURNURLs) > 0 {
		out.ICEServers = append(out.ICEServers, turncred.ICEServer{URLs: ans.Edge.TURNURLs, Username: ans.TURNUsername, Credential: ans.TURNCredential})
	}
	return out
}

// RegionList is the answer of GET /v1/regions.
type RegionList struct {
	Regions []placement.Region `json:"regions"`
}

// listRegions: GET /v1/regions, public. Clients probe each region and send
// the RTTs with their join.
func (a *API) listRegions(r *request) error {
	r.c.Response.Header.Set("Cache-Control", "public, max-age=5")
	return r.json(http.StatusOK, RegionList{Regions: a.o.Join.Regions(r.context())})
}
