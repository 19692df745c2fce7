package api

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/turn"
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
	MediaTokenExpiresAt time.Time   `json:"mediaTokenExpiresAt"`
	ICEServers          []ICEServer `json:"iceServers"`
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

// ICEServer is one RTCIceServer entry.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
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

// joiner is who is joining, once the credential is checked.
type joiner struct {
	identity string
	name     string
	role     grant.Role
	// linkID is a link to redeem after placement; identity, name and role
	// then come from the redeemed link.
	linkID string
	// embed is an embed token to spend after placement.
	embed *store.SpentToken
	// issued is when the credential was issued (zero for a user token or
	// none): a credential older than a moderator's removal is refused.
	issued time.Time
	// What admitted the participant, carried in its session so that a
	// rejoin derives the role again from what holds then: the user (a
	// user or embed token, with the refresh family behind it) or the link.
	// A session with neither is a guest's.
	user   store.UserID
	link   string
	family string
	// until is the latest the session may last: the expiry of the
	// credential that admitted the participant (a link, a user token) or,
	// on a rejoin, of the session presented. Zero: SessionTTL alone.
	until time.Time
}

var (
	errRoomPrivate  = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "this room is private: join with an access link, a session or a user token"}
	errSpacePrivate = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "this room's space is private: join with an access link, a session or a user token"}
)

// joinRoom: POST /v1/rooms/{alias}/join. The credential is, in order of
// precedence: sessionToken, accessToken, embedToken, the Authorization user
// token, nothing (public rooms in public spaces only).
func (a *API) joinRoom(r *request) error {
	alias := r.p.get(0)
	if !validAlias(alias) {
		return badInput("invalid_id", "alias", "alias: is not a valid room alias")
	}
	if err := r.limit(a.o.JoinPerAddress, "j:"+r.addrKey(), "joins from your address"); err != nil {
		return err
	}
	q, err := decodeJoin(r.c.PostBody())
	if err != nil {
		return err
	}
	rm, err := r.roomByAlias(alias)
	if err != nil {
		return about("room", "room", err)
	}
	j, err := a.whoJoins(r, q, rm)
	if err != nil {
		return err
	}
	req := placement.Request{RoomID: string(rm.ID), RoomAlias: rm.Alias, ClientID: string(rm.ClientID), RegionHint: q.RegionHint}
	if len(q.RTTs) > 0 {
		req.RTTs = make(map[string]time.Duration, len(q.RTTs))
		for k, ms := range q.RTTs {
			req.RTTs[k] = time.Duration(ms) * time.Millisecond
		}
	}
	req.ClientAddr = r.clientAddr()
	// Place before spending the link: a refused placement leaves it usable.
	pl, err := a.o.Placer.Place(r.context(), req)
	if err != nil {
		return err
	}
	if j.linkID != "" {
		l, err := a.o.Store.RedeemAccessLink(r.context(), rm.ClientID, j.linkID, r.now)
		if err != nil {
			return about("access link", "access_link", err)
		}
		issued := j.issued
		if j, err = linkJoiner(l, rm, q.ParticipantName); err != nil {
			return err
		}
		j.issued = issued
	}
	if j.embed != nil {
		j.embed.SpentAt = r.now
		if err := a.o.Store.SpendToken(r.context(), *j.embed, nil); err != nil {
			return about("embed token", "embed_token", err)
		}
	}
	if !j.until.IsZero() && !j.until.After(r.now) {
		return about("session", "session", store.ErrExpired)
	}
	if err := a.refuseRemoved(string(rm.ID), j.identity, j.issued, r.now); err != nil {
		return err
	}
	if j.link != "" && strings.HasPrefix(j.identity, permanentLinkPrefix(j.link)) {
		if err := a.refuseRemovedLink(string(rm.ID), j.link, j.issued, r.now); err != nil {
			return err
		}
	}
	ans, err := a.answer(r, rm, j, pl)
	if err != nil {
		return err
	}
	r.c.Response.Header.Set("Cache-Control", "no-store")
	return r.json(http.StatusOK, ans)
}

// selfName is the display name: the participant's own choice when the room
// lets participants rename themselves (or there is no default).
func selfName(rm store.Room, asked, def string) string {
	if asked != "" && (rm.Flags.IsSelfRenamingAllowed || def == "") {
		return asked
	}
	return def
}

// linkRole is the call role a link gives.
func linkRole(l store.AccessLink) grant.Role {
	if l.Role == store.LinkRoleModerator {
		return grant.RoleModerator
	}
	return grant.RoleParticipant
}

// linkJoiner is the participant a redeemed link admits; its session ends
// when the link does.
func linkJoiner(l store.AccessLink, rm store.Room, asked string) (joiner, error) {
	j := joiner{name: selfName(rm, asked, l.Username), role: linkRole(l), link: l.ID, until: l.ExpiresAt}
	switch {
	case l.ExternalUserID != "":
		j.identity = "x_" + l.ExternalUserID
	case l.IsPermanent:
		suffix, err := auth.RandomString("", 6)
		if err != nil {
			return joiner{}, err
		}
		j.identity = permanentLinkPrefix(l.ID) + suffix
	default:
		j.identity = "l_" + l.ID
	}
	return j, nil
}

func (a *API) whoJoins(r *request, q JoinRequest, rm store.Room) (joiner, error) {
	switch {
	case q.SessionToken != "":
		return a.rejoin(r, q, rm)
	case q.AccessToken != "":
		c, err := r.verify(q.AccessToken, auth.TypeLink, auth.AudLink)
		if errors.Is(err, auth.ErrTokenExpired) {
			return joiner{}, about("access link", "access_link", store.ErrExpired)
		}
		if err != nil {
			return joiner{}, err
		}
		if c.Room != string(rm.ID) || c.ClientID != string(rm.ClientID) {
			return joiner{}, &Error{Status: http.StatusForbidden, Code: "wrong_room", Field: "accessToken", Message: "accessToken: the link is for another room"}
		}
		// Redeemed after placement (one atomic store call decides the
		// winner); the link's fields are known then.
		return joiner{linkID: c.ID, issued: c.Issued()}, nil
	case q.EmbedToken != "":
		c, err := r.verify(q.EmbedToken, auth.TypeEmbed, auth.AudEmbed)
		if errors.Is(err, auth.ErrTokenExpired) {
			return joiner{}, about("embed token", "embed_token", store.ErrExpired)
		}
		if err != nil {
			return joiner{}, err
		}
		if c.Room != string(rm.ID) || c.ClientID != string(rm.ClientID) {
			return joiner{}, &Error{Status: http.StatusForbidden, Code: "wrong_room", Field: "embedToken", Message: "embedToken: the token is for another room"}
		}
		p := principal{client: rm.ClientID, user: store.UserID(c.User), family: c.Family}
		if c.Bound > 0 {
			p.expires = time.Unix(c.Bound, 0)
		}
		j, err := a.userJoiner(r, q, rm, p)
		if err != nil {
			return joiner{}, err
		}
		// Spent after placement, as a link is: a refused placement
		// leaves it usable.
		j.embed = &store.SpentToken{ID: c.ID, ClientID: rm.ClientID, ExpiresAt: time.Unix(c.ExpiresAt, 0)}
		return j, nil
	case r.bearer() != "":
		p, err := r.authenticate()
		if err != nil {
			return joiner{}, err
		}
		if p.client != rm.ClientID {
			return joiner{}, about("room", "room", store.ErrNotFound)
		}
		if !p.isUser() {
			return joiner{}, errUserToken
		}
		return a.userJoiner(r, q, rm, p)
	default:
		// Each guest join mints an identity and a media token out of
		// nothing: its own, tighter limit.
		if err := r.limit(a.o.GuestJoinPerAddress, "g:"+r.addrKey(), "guest joins from your address"); err != nil {
			return joiner{}, err
		}
		if err := a.openToGuests(r, rm); err != nil {
			return joiner{}, err
		}
		id, err := auth.RandomString("g_", 9)
		if err != nil {
			return joiner{}, err
		}
		name := q.ParticipantName
		if name == "" {
			name = "Guest"
		}
		return joiner{identity: id, name: name, role: grant.RoleParticipant}, nil
	}
}

// userJoiner is the signed-in user p joining rm: its room role, its name
// (its own choice when the room allows), a session bound by p's expiry.
func (a *API) userJoiner(r *request, q JoinRequest, rm store.Room, p principal) (joiner, error) {
	u, err := a.o.Store.GetUser(r.context(), p.client, p.user)
	if err != nil {
		return joiner{}, about("user", "user", err)
	}
	role, err := a.userRole(r, p, rm)
	if err != nil {
		return joiner{}, err
	}
	return joiner{identity: "u_" + string(u.ID), name: selfName(rm, q.ParticipantName, u.Username), role: role,
		user: u.ID, family: p.family, until: p.expires}, nil
}

// openToGuests tells whether anonymous guests may be in rm now: the room
// is public and so is its space (a private space is open only to its
// members, whatever its rooms say).
func (a *API) openToGuests(r *request, rm store.Room) error {
	if !rm.IsPublic {
		return errRoomPrivate
	}
	s, err := a.o.Store.GetSpace(r.context(), rm.ClientID, rm.SpaceID)
	if err != nil {
		return about("space", "space", err)
	}
	if !s.IsPublic {
		return errSpacePrivate
	}
	return nil
}

// userRole is a signed-in user's call role: the room's owner and
// moderators by their room role, then room users; in a public room that
// the user may see, the space's owner and moderators moderate and everyone
// else participates.
func (a *API) userRole(r *request, p principal, rm store.Room) (grant.Role, error) {
	rrole, err := r.roomRole(p, rm.ID)
	if err != nil {
		return "", err
	}
	switch rrole {
	case store.RoomRoleOwner:
		return grant.RoleOwner, nil
	case store.RoomRoleModerator:
		return grant.RoleModerator, nil
	case store.RoomRoleUser:
		return grant.RoleParticipant, nil
	}
	if !rm.IsPublic {
		return "", forbidden("this room is private")
	}
	s, err := a.o.Store.GetSpace(r.context(), p.client, rm.SpaceID)
	if err != nil {
		return "", about("space", "space", err)
	}
	srole, err := r.spaceRole(p, s.ID)
	if err != nil {
		return "", err
	}
	if !canSeeSpace(s, srole) {
		return "", forbidden("this room's space is private")
	}
	if canManageSpace(srole) {
		return grant.RoleModerator, nil
	}
	return grant.RoleParticipant, nil
}

func (a *API) answer(r *request, rm store.Room, j joiner, pl placement.Placement) (JoinAnswer, error) {
	role := grant.InRoom(j.role, rm.Type)
	g := grant.For(role, rm.Type, rm.Flags)
	// The session never outlives what admitted the participant, nor, on a
	// rejoin, the session presented: rejoins cannot renew it.
	until := r.now.Add(a.o.SessionTTL)
	if !j.until.IsZero() && j.until.Before(until) {
		until = j.until
	}
	sess, sessExp, err := a.o.Tokens.IssueUntil(r.context(), auth.Claims{Subject: j.identity, Audience: auth.AudSession, Type: auth.TypeSession,
		ClientID: string(rm.ClientID), Room: string(rm.ID), Role: string(j.role), Name: j.name,
		User: string(j.user), Link: j.link, Family: j.family}, until)
	if err != nil {
		return JoinAnswer{}, err
	}
	if !sessExp.After(r.now) {
		return JoinAnswer{}, about("session", "session", store.ErrExpired)
	}
	mediaTTL := min(a.o.MediaTTL, sessExp.Sub(r.now))
	key, secret := a.o.Cluster.SigningSecret()
	media, err := grant.MediaToken(grant.Media{APIKey: key, APISecret: secret, Identity: j.identity, Name: j.name,
		Room: string(rm.ID), Role: role, Grants: g, TTL: mediaTTL, MaxParticipants: rm.MaxParticipants})
	if err != nil {
		return JoinAnswer{}, err
	}
	ans := JoinAnswer{
		Identity: j.identity, Name: j.name, Role: role, Grants: g, Room: viewRoom(rm, ""),
		Session:    Session{Token: sess, ExpiresAt: sessExp},
		Edge:       Edge{URL: pl.SignalURL, Region: pl.Region, NodeID: pl.NodeID},
		MediaToken: media, MediaTokenExpiresAt: r.now.Add(mediaTTL).Truncate(time.Second),
		ICEServers: []ICEServer{},
	}
	if len(pl.TURNURLs) > 0 {
		ice := ICEServer{URLs: pl.TURNURLs}
		if len(a.o.Cluster.TURNSecrets) > 0 {
			ice.Username, ice.Credential = turn.Credential(a.o.Cluster.TURNSecrets[0], j.identity, r.now.Add(a.o.TURNTTL))
		}
		ans.ICEServers = append(ans.ICEServers, ice)
	}
	return ans, nil
}

// RegionList is the answer of GET /v1/regions.
type RegionList struct {
	Regions []placement.Region `json:"regions"`
}

// listRegions: GET /v1/regions, public. Clients probe each region and send
// the RTTs with their join.
func (a *API) listRegions(r *request) error {
	var regions []placement.Region
	if a.o.Regions != nil {
		regions = a.o.Regions()
	} else if pl, err := a.o.Placer.Place(r.context(), placement.Request{}); err == nil && pl.Region != "" {
		regions = []placement.Region{{Name: pl.Region, ProbeURLs: []string{}}}
	}
	if regions == nil {
		regions = []placement.Region{}
	}
	r.c.Response.Header.Set("Cache-Control", "public, max-age=5")
	return r.json(http.StatusOK, RegionList{Regions: regions})
}
