package join

import (
	"context"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/store"
)

// rejoin checks a session credential (a reconnect) and derives the role
// again from what holds now, as the first join would: the user's current
// call role, the link's role, a guest's right to be in the room. The
// identity and name stay; the session answered ends no later than the one
// presented.
func (s *Service) rejoin(ctx context.Context, q Request, rm store.Room) (joiner, error) {
	c, err := s.o.Access.Verify(ctx, q.SessionToken, auth.TypeSession, auth.AudSession)
	if err != nil {
		return joiner{}, access.About("session", "session", err)
	}
	if c.Room != string(rm.ID) || c.ClientID != string(rm.ClientID) {
		return joiner{}, &WrongRoomError{Credential: CredentialSession}
	}
	j := joiner{identity: c.Subject, name: c.Name, issued: c.Issued(), user: store.UserID(c.User), link: c.Link,
		family: c.Family, until: time.Unix(c.ExpiresAt, 0)}
	if j.user == "" && j.link == "" && strings.HasPrefix(c.Subject, "u_") {
		j.user = store.UserID(strings.TrimPrefix(c.Subject, "u_")) // a session from before the uId claim
	}
	switch {
	case j.user != "" || j.link != "" || strings.HasPrefix(c.Subject, "g_"):
		if j.role, err = s.roleNow(ctx, rm, j); err != nil {
			return joiner{}, err
		}
	default:
		// A link's session from before the lId claim: the role it was
		// given (it expires within the session TTL of the upgrade).
		j.role = grant.Role(c.Role)
	}
	return j, nil
}
