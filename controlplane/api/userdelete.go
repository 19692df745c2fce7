package api

import (
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// UserRevoker is a Revocations that can also bar a user everywhere: in a
// fleet the revocation reaches every edge, which disconnects the user's
// participants (controlplane/fleet, over gossip).
type UserRevoker interface {
	// RevokeUser bars the participant identity of a user in every room
	// until until.
	RevokeUser(identity string, until time.Time) error
}

// userIdentity is the participant identity a user joins with.
func userIdentity(id store.UserID) string { return "u_" + string(id) }

// deleteUser: DELETE /v1/users/{userId}, client token of the user's
// client. The user goes with its memberships, room roles and personal
// tokens; in the same transaction the store records a revocation of every
// token the user holds (access, refresh, embed, the session credentials
// of its joins), which every replica enforces within a second; in a fleet
// the user's participants are also disconnected from every edge.
func (a *API) deleteUser(r *request) error {
	p, err := r.authenticate()
	if err != nil {
		return err
	}
	if p.isUser() {
		return errClientToken
	}
	id, err := r.id(0, "userId")
	if err != nil {
		return err
	}
	uid := store.UserID(id)
	if err := a.o.Store.DeleteUser(r.context(), p.client, uid); err != nil {
		return about("user", "user", err)
	}
	// This replica enforces it at once; the others hear of it from the
	// store.
	a.o.Denylist.Add(store.TokenRevocation{Kind: store.RevokeUser, ClientID: p.client, Subject: id,
		CreatedAt: r.now, Until: r.now.Add(store.RevocationHorizon)})
	if ur, ok := a.revocations.(UserRevoker); ok {
		if err := ur.RevokeUser(userIdentity(uid), r.now.Add(max(a.o.MediaTTL, time.Minute))); err != nil {
			a.o.Logger.Warn("user deleted, its media sessions not revoked on the edges", "user", id, "err", err)
		}
	}
	return r.json(http.StatusOK, idOnly{ID: id})
}
