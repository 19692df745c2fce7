package space

import (
	"context"
	"net/url"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
)

// Lifetimes of embed tokens: long enough for the integrator's page to load
// the iframe, short enough that a copy leaked from a URL (a log, a
// Referer, the browser's history) is dead.
const (
	DefaultEmbedTTL = time.Minute
	MaxEmbedTTL     = 10 * time.Minute
)

// EmbedToken makes a short-lived single-use token that signs v's caller
// in to the room page of v's room (URL = <PublicURL>/room/<alias>?embedToken=<token>):
// the iframe's URL then carries nothing that outlives the page load. The
// token stands for the user and the sign-in behind the caller's token:
// deleting the user or revoking that sign-in revokes it, and the session
// it opens ends when the caller's token does.
func (s *Service) EmbedToken(ctx context.Context, v access.VisibleRoom, ttl time.Duration) (Link, error) {
	c, rm := v.Caller(), v.Room()
	if !c.IsUser() {
		return Link{}, access.ErrUserToken
	}
	claims := auth.Claims{Subject: string(c.User), User: string(c.User), Audience: auth.AudEmbed, Type: auth.TypeEmbed,
		ClientID: string(c.Client), Room: string(rm.ID), Family: c.Family}
	if !c.Expires.IsZero() {
		claims.Bound = c.Expires.Unix()
	}
	tok, exp, err := s.o.Tokens.Issue(ctx, claims, ttl)
	if err != nil {
		return Link{}, err
	}
	return Link{URL: s.o.PublicURL + "/room/" + url.PathEscape(rm.Alias) + "?embedToken=" + tok, Token: tok, ExpiresAt: exp}, nil
}
