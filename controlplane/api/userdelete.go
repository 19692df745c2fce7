package api

import (
	"net/http"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/store"
)

// userIdentity is the participant identity a user joins with.
func userIdentity(id store.UserID) string { return "u_" + string(id) }

// deleteUser: DELETE /v1/users/{userId}, client token of the user's
// client. The user goes with its memberships, room roles and personal
// tokens; in the same transaction the store records a revocation of every
// token the user holds (access, refresh, embed, the session credentials
// of its joins), which every replica enforces within a second; in a fleet
// the user's participants are also disconnected from every edge.
func (a *API) deleteUser(r *request) error {
	p := r.caller
	id, err := r.id(0, "userId")
	if err != nil {
		return err
	}
	uid := store.UserID(id)
	if err := a.o.Store.DeleteUser(r.context(), p.Client, uid); err != nil {
		return access.About("user", "user", err)
	}
	// This replica enforces it at once; the others hear of it from the
	// store.
	now := r.now()
	if a.o.Denylist != nil {
		a.o.Denylist.Add(store.TokenRevocation{Kind: store.RevokeUser, ClientID: p.Client, Subject: id,
			CreatedAt: now, Until: now.Add(store.RevocationHorizon)})
	}
	if a.o.UserRevoker != nil {
		if err := a.o.UserRevoker.RevokeUser(userIdentity(uid), now.Add(max(a.o.MediaTTL, time.Minute))); err != nil {
			a.o.Logger.Warn("user deleted, its media sessions not revoked on the edges", "user", id, "err", err)
		}
	}
	return r.json(http.StatusOK, idOnly{ID: id})
}
