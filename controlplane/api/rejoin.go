package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/store"
)

// errAdmissionGone: the user or link behind a session no longer exists.
var errAdmissionGone = &Error{Status: http.StatusUnauthorized, Code: "invalid_token",
	Message: "sessionToken: the user or link that admitted this session no longer exists"}

// rejoin checks a session credential (a reconnect) and derives the role
// again from what holds now, as the first join would: the user's current
// room role and the room's visibility, the link's role, a guest's right to
// be in the room. The identity and name stay; the session answered ends no
// later than the one presented.
func (a *API) rejoin(r *request, q JoinRequest, rm store.Room) (joiner, error) {
	c, err := r.verify(q.SessionToken, auth.TypeSession, auth.AudSession)
	if err != nil {
		return joiner{}, about("session", "session", err)
	}
	if c.Room != string(rm.ID) || c.ClientID != string(rm.ClientID) {
		return joiner{}, &Error{Status: http.StatusForbidden, Code: "wrong_room", Field: "sessionToken", Message: "sessionToken: the session is for another room"}
	}
	j := joiner{identity: c.Subject, name: c.Name, issued: c.Issued(), user: store.UserID(c.User), link: c.Link,
		family: c.Family, until: time.Unix(c.ExpiresAt, 0)}
	if j.user == "" && j.link == "" && strings.HasPrefix(c.Subject, "u_") {
		j.user = store.UserID(strings.TrimPrefix(c.Subject, "u_")) // a session from before the uId claim
	}
	switch {
	case j.user != "":
		p := principal{client: rm.ClientID, user: j.user}
		if _, err := a.o.Store.GetUser(r.context(), p.client, p.user); errors.Is(err, store.ErrNotFound) {
			return joiner{}, errAdmissionGone
		} else if err != nil {
			return joiner{}, err
		}
		if j.role, err = a.userRole(r, p, rm); err != nil {
			return joiner{}, err
		}
	case j.link != "":
		l, err := a.o.Store.GetAccessLink(r.context(), rm.ClientID, j.link)
		if errors.Is(err, store.ErrNotFound) || (err == nil && l.RoomID != rm.ID) {
			return joiner{}, errAdmissionGone
		} else if err != nil {
			return joiner{}, err
		}
		j.role = linkRole(l)
	case strings.HasPrefix(c.Subject, "g_"):
		if err := a.openToGuests(r, rm); err != nil {
			return joiner{}, err
		}
		j.role = grant.RoleParticipant
	default:
		// A link's session from before the lId claim: the role it was
		// given (it expires within the session TTL of the upgrade).
		j.role = grant.Role(c.Role)
	}
	return j, nil
}
