package space

import (
	"context"
	"net/url"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Lifetimes of guest links.
const (
	DefaultLinkTTL = 24 * time.Hour
	MaxLinkTTL     = 5 * 24 * time.Hour
)

// LinkSpec is what a guest link admits: who (Username, the external ids,
// contact details) with what role, for how long, and whether it is spent
// on first use (IsPermanent false) or reusable until expiry.
type LinkSpec struct {
	Username          string
	Role              store.LinkRole
	ExternalUserID    string
	ExternalMeetingID string
	Email             string
	Phone             string
	TTL               time.Duration
	IsPermanent       bool
}

// Link is a guest link: its token (a JWT whose jti is the link's id), the
// room page URL that carries it, and its expiry.
type Link struct {
	URL       string
	Token     string
	ExpiresAt time.Time
}

// GenerateAccess makes a guest link into m's room (the reference's
// generate-access): <PublicURL>/room/<alias>?participantName=<username>&accessToken=<token>.
func (s *Service) GenerateAccess(ctx context.Context, m access.ManagedRoom, spec LinkSpec) (Link, error) {
	rm, c := m.Room(), m.Caller()
	id, err := auth.RandomID()
	if err != nil {
		return Link{}, err
	}
	tok, exp, err := s.o.Tokens.Issue(ctx, auth.Claims{Subject: id, ID: id, Audience: auth.AudLink, Type: auth.TypeLink,
		ClientID: string(c.Client), Room: string(rm.ID)}, spec.TTL)
	if err != nil {
		return Link{}, err
	}
	l := store.AccessLink{ID: id, ClientID: c.Client, SpaceID: rm.SpaceID, RoomID: rm.ID, Username: spec.Username, Role: spec.Role,
		ExternalUserID: spec.ExternalUserID, ExternalMeetingID: spec.ExternalMeetingID, Email: spec.Email, Phone: spec.Phone,
		IsPermanent: spec.IsPermanent, CreatedBy: c.User, CreatedAt: s.o.Now(), ExpiresAt: exp}
	if err := s.o.Store.CreateAccessLink(ctx, l); err != nil {
		return Link{}, access.About("access link", "access_link", err)
	}
	// The reference's parameter order: participantName, then accessToken.
	u := s.o.PublicURL + "/room/" + url.PathEscape(rm.Alias) + "?participantName=" + url.QueryEscape(spec.Username) + "&accessToken=" + tok
	return Link{URL: u, Token: tok, ExpiresAt: exp}, nil
}
