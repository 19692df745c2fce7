package join

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/turncred"
)

// Options are the Service's dependencies and settings.
type Options struct {
	Store  store.Store
	Access *access.Service
	Tokens *auth.Tokens
	Placer placement.Placer
	// Removals bars removed participants' older credentials.
	Removals removal.Revocations
	// Waiting holds those whom a room's waitingRoomAudience makes wait.
	Waiting *waiting.Service
	// Cluster signs media tokens and TURN credentials.
	Cluster clusterkey.Config
	// Regions lists the regions clients probe before a join; nil answers
	// the region of the edge Placer gives a room-less request.
	Regions func() []placement.Region
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	SessionTTL time.Duration // session credentials
	MediaTTL   time.Duration // LiveKit media tokens
	TURNTTL    time.Duration // TURN credentials
}

// Service admits participants into rooms. It is safe for concurrent use.
type Service struct{ o Options }

// New checks o and builds the Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Access == nil || o.Tokens == nil || o.Placer == nil || o.Removals == nil || o.Waiting == nil {
		return nil, errors.New("join: Store, Access, Tokens, Placer, Removals and Waiting are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o}, nil
}

// Request is one join. Every credential is optional; the first present in
// the order of the fields is the one used.
type Request struct {
	Alias string
	// SessionToken is the session credential of an earlier join.
	SessionToken string
	// AccessToken is a generate-access link token.
	AccessToken string
	// EmbedToken is a single-use embed token.
	EmbedToken string
	// Bearer is a user or personal token.
	Bearer string

	ParticipantName string
	RegionHint      string
	// RTTs are the round trips the client measured to each region.
	RTTs       map[string]time.Duration
	ClientAddr netip.Addr

	// RequestID is the join request's id (internal/requestid), carried in
	// the media token for the edge's log; "" carries none.
	RequestID string

	// AdmitGuest is asked before a join without any credential goes on
	// (the caller's rate limit of guests); its error refuses the join.
	// Nil admits every guest.
	AdmitGuest func() error
}

// Answer is an admitted participant: who it is, what it may do, where it
// connects and how it comes back. A participant that waits for a moderator
// gets an Answer with Waiting set, and only Identity, Name, Role and Room
// besides.
type Answer struct {
	// Waiting is the participant's place in the room's waiting room, when
	// the room makes it wait: no media token, no session, no edge yet.
	Waiting *Waiting

	Identity string
	Name     string
	Role     grant.Role // in the room: a webinar's participant is a viewer
	Grants   grant.Grants
	Room     store.Room

	// SessionToken is accepted by a later join (SessionExpiresAt at most).
	SessionToken     string
	SessionExpiresAt time.Time

	// Edge is where to connect; its TURN URLs take TURNUsername and
	// TURNCredential, a TURN REST credential (internal/turncred; empty
	// without a TURN secret).
	Edge           placement.Placement
	TURNUsername   string
	TURNCredential string

	MediaToken string
	// MediaTokenExpiresAt is when MediaToken stops being accepted for a
	// new connection.
	MediaTokenExpiresAt time.Time
}

// Waiting is a place in a waiting room.
type Waiting struct {
	ID string
	// Ticket is the waiter's credential: Wait takes it (and only its
	// hash is stored).
	Ticket string
	Since  time.Time
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

// Join admits the participant q describes into the room with q.Alias.
func (s *Service) Join(ctx context.Context, q Request) (Answer, error) {
	now := s.o.Now()
	rm, err := s.o.Access.LookupAlias(ctx, q.Alias)
	if err != nil {
		return Answer{}, access.About("room", "room", err)
	}
	j, err := s.whoJoins(ctx, q, rm)
	if err != nil {
		return Answer{}, err
	}
	// A reconnect was admitted already; anyone else may have to wait.
	if q.SessionToken == "" && rm.Flags.WaitingRoomAudience != waiting.Nobody {
		if ans, waits, err := s.maybeWait(ctx, q, rm, j, now); waits || err != nil {
			return ans, err
		}
	}
	// Place before spending the link: a refused placement leaves it usable.
	pl, err := s.o.Placer.Place(ctx, placement.Request{RoomID: string(rm.ID), RoomAlias: rm.Alias, ClientID: string(rm.ClientID),
		RegionHint: q.RegionHint, RTTs: q.RTTs, ClientAddr: q.ClientAddr})
	if err != nil {
		return Answer{}, err
	}
	if j, err = s.spend(ctx, q, rm, j, now); err != nil {
		return Answer{}, err
	}
	return s.answer(ctx, rm, j, pl, now, q.RequestID)
}

// spend redeems j's single-use credential (a link, an embed token), then
// checks that what admits j has not expired and that no moderator removed
// it: the last step of a join before it is answered, or made to wait.
func (s *Service) spend(ctx context.Context, q Request, rm store.Room, j joiner, now time.Time) (joiner, error) {
	if j.linkID != "" {
		l, err := s.o.Store.RedeemAccessLink(ctx, rm.ClientID, j.linkID, now)
		if err != nil {
			return j, access.About("access link", "access_link", err)
		}
		issued := j.issued
		if j, err = linkJoiner(l, rm, q.ParticipantName); err != nil {
			return j, err
		}
		j.issued = issued
	}
	if j.embed != nil {
		j.embed.SpentAt = now
		if err := s.o.Store.SpendToken(ctx, *j.embed, nil); err != nil {
			return j, access.About("embed token", "embed_token", err)
		}
		j.embed = nil
	}
	if !j.until.IsZero() && !j.until.After(now) {
		return j, access.About("session", "session", store.ErrExpired)
	}
	return j, s.refuseRemoved(rm, j, now)
}

// whoJoins checks the credential of q for rm.
func (s *Service) whoJoins(ctx context.Context, q Request, rm store.Room) (joiner, error) {
	switch {
	case q.SessionToken != "":
		return s.rejoin(ctx, q, rm)
	case q.AccessToken != "":
		c, err := s.o.Access.Verify(ctx, q.AccessToken, auth.TypeLink, auth.AudLink)
		if errors.Is(err, auth.ErrTokenExpired) {
			return joiner{}, access.About("access link", "access_link", store.ErrExpired)
		}
		if err != nil {
			return joiner{}, err
		}
		if c.Room != string(rm.ID) || c.ClientID != string(rm.ClientID) {
			return joiner{}, &WrongRoomError{Credential: CredentialLink}
		}
		// Redeemed after placement (one atomic store call decides the
		// winner); the link's fields are known then.
		return joiner{linkID: c.ID, issued: c.Issued()}, nil
	case q.EmbedToken != "":
		c, err := s.o.Access.Verify(ctx, q.EmbedToken, auth.TypeEmbed, auth.AudEmbed)
		if errors.Is(err, auth.ErrTokenExpired) {
			return joiner{}, access.About("embed token", "embed_token", store.ErrExpired)
		}
		if err != nil {
			return joiner{}, err
		}
		if c.Room != string(rm.ID) || c.ClientID != string(rm.ClientID) {
			return joiner{}, &WrongRoomError{Credential: CredentialEmbed}
		}
		caller := access.Caller{Client: rm.ClientID, User: store.UserID(c.User), Family: c.Family}
		if c.Bound > 0 {
			caller.Expires = time.Unix(c.Bound, 0)
		}
		j, err := s.userJoiner(ctx, q, rm, caller)
		if err != nil {
			return joiner{}, err
		}
		// Spent after placement, as a link is: a refused placement
		// leaves it usable.
		j.embed = &store.SpentToken{ID: c.ID, ClientID: rm.ClientID, ExpiresAt: time.Unix(c.ExpiresAt, 0)}
		return j, nil
	case q.Bearer != "":
		caller, err := s.o.Access.Authenticate(ctx, q.Bearer)
		if err != nil {
			return joiner{}, err
		}
		if caller.Client != rm.ClientID {
			return joiner{}, access.About("room", "room", store.ErrNotFound)
		}
		if !caller.IsUser() {
			return joiner{}, access.ErrUserToken
		}
		return s.userJoiner(ctx, q, rm, caller)
	default:
		// Each guest join mints an identity and a media token out of
		// nothing: the caller's own, tighter limit.
		if q.AdmitGuest != nil {
			if err := q.AdmitGuest(); err != nil {
				return joiner{}, err
			}
		}
		if err := s.openToGuests(ctx, rm); err != nil {
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

// userJoiner is the signed-in user c joining rm: its call role, its name
// (its own choice when the room allows), a session bound by c's expiry.
func (s *Service) userJoiner(ctx context.Context, q Request, rm store.Room, c access.Caller) (joiner, error) {
	u, err := s.o.Store.GetUser(ctx, c.Client, c.User)
	if err != nil {
		return joiner{}, access.About("user", "user", err)
	}
	role, err := s.o.Access.CallRole(ctx, c, rm)
	if err != nil {
		return joiner{}, err
	}
	return joiner{identity: "u_" + string(u.ID), name: selfName(rm, q.ParticipantName, u.Username), role: role,
		user: u.ID, family: c.Family, until: c.Expires}, nil
}

// openToGuests tells whether anonymous guests may be in rm now: the room
// is public and so is its space (a private space is open only to its
// members, whatever its rooms say).
func (s *Service) openToGuests(ctx context.Context, rm store.Room) error {
	if !rm.IsPublic {
		return ErrRoomPrivate
	}
	sp, err := s.o.Store.GetSpace(ctx, rm.ClientID, rm.SpaceID)
	if err != nil {
		return access.About("space", "space", err)
	}
	if !sp.IsPublic {
		return ErrSpacePrivate
	}
	return nil
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

// permanentLinkPrefix starts the identities a permanent link admits.
func permanentLinkPrefix(linkID string) string { return "l_" + linkID + "_" }

// refuseRemoved refuses j if a moderator removed its identity from rm
// after its credential was issued (zero issue time: a user token, barred
// for the removal's lifetime), or, for a permanent link, removed any
// participant that link admitted: each of its joins gets a new identity
// ("l_<link>_<suffix>"), so the removal of any of them bars the link until
// the participant is invited again (a new link).
func (s *Service) refuseRemoved(rm store.Room, j joiner, now time.Time) error {
	room := string(rm.ID)
	if s.o.Removals.ParticipantRevoked(room, j.identity, j.issued, now) {
		return ErrRemoved
	}
	if j.link != "" && strings.HasPrefix(j.identity, permanentLinkPrefix(j.link)) &&
		s.o.Removals.PrefixRevoked(room, permanentLinkPrefix(j.link), j.issued, now) {
		return ErrRemoved
	}
	return nil
}

// answer issues what j needs to connect to pl: its session credential,
// media token and TURN credentials.
func (s *Service) answer(ctx context.Context, rm store.Room, j joiner, pl placement.Placement, now time.Time, requestID string) (Answer, error) {
	role := grant.InRoom(j.role, rm.Type)
	g := grant.For(role, rm.Type, rm.Flags)
	// The session never outlives what admitted the participant, nor, on a
	// rejoin, the session presented: rejoins cannot renew it.
	until := now.Add(s.o.SessionTTL)
	if !j.until.IsZero() && j.until.Before(until) {
		until = j.until
	}
	sess, sessExp, err := s.o.Tokens.IssueUntil(ctx, auth.Claims{Subject: j.identity, Audience: auth.AudSession, Type: auth.TypeSession,
		ClientID: string(rm.ClientID), Room: string(rm.ID), Role: string(j.role), Name: j.name,
		User: string(j.user), Link: j.link, Family: j.family}, until)
	if err != nil {
		return Answer{}, err
	}
	if !sessExp.After(now) {
		return Answer{}, access.About("session", "session", store.ErrExpired)
	}
	mediaTTL := min(s.o.MediaTTL, sessExp.Sub(now))
	key, secret := s.o.Cluster.SigningSecret()
	media, err := grant.MediaToken(grant.Media{APIKey: key, APISecret: secret, Identity: j.identity, Name: j.name,
		Room: string(rm.ID), Role: role, Grants: g, TTL: mediaTTL, MaxParticipants: rm.MaxParticipants, RequestID: requestID,
		AutoRecord: rm.Flags.IsAutoRecordingAllowed})
	if err != nil {
		return Answer{}, err
	}
	ans := Answer{
		Identity: j.identity, Name: j.name, Role: role, Grants: g, Room: rm,
		SessionToken: sess, SessionExpiresAt: sessExp,
		Edge:       pl,
		MediaToken: media, MediaTokenExpiresAt: now.Add(mediaTTL).Truncate(time.Second),
	}
	if len(pl.TURNURLs) > 0 && len(s.o.Cluster.TURNSecrets) > 0 {
		ans.TURNUsername, ans.TURNCredential = turncred.Mint(s.o.Cluster.TURNSecrets[0], j.identity, now.Add(s.o.TURNTTL))
	}
	return ans, nil
}

// Regions lists the regions clients probe before a join: Options.Regions,
// or the region of the edge the placer gives a room-less request.
func (s *Service) Regions(ctx context.Context) []placement.Region {
	var regions []placement.Region
	if s.o.Regions != nil {
		regions = s.o.Regions()
	} else if pl, err := s.o.Placer.Place(ctx, placement.Request{}); err == nil && pl.Region != "" {
		regions = []placement.Region{{Name: pl.Region, ProbeURLs: []string{}}}
	}
	if regions == nil {
		regions = []placement.Region{}
	}
	return regions
}
