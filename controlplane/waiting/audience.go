package waiting

import (
	"slices"

	"github.com/spacecast/spacecast/controlplane/grant"
)

// Audiences of a room's waiting room (its waitingRoomAudience flag).
const (
	// Nobody waits: everyone who may join joins at once.
	Nobody = "nobody"
	// Guests wait: participants without a user account (a generate-access
	// link's or an anonymous guest in a public room). Signed-in users,
	// owners and moderators join at once.
	Guests = "guests"
	// Everyone waits but owners and moderators.
	Everyone = "everyone"
)

// Audiences lists the allowed values of waitingRoomAudience.
func Audiences() []string { return []string{Nobody, Guests, Everyone} }

// ValidAudience reports whether a is an allowed waitingRoomAudience.
func ValidAudience(a string) bool { return slices.Contains(Audiences(), a) }

// Waits tells whether someone joining a room whose waitingRoomAudience is
// audience waits for a moderator: role is the call role the join found
// (before a webinar makes participants viewers), account whether the
// person joins with a user account (a user or embed token) rather than as
// a guest. Owners and moderators never wait; an empty audience (a room
// stored before the flag was enforced) is Nobody.
func Waits(audience string, role grant.Role, account bool) bool {
	if role == grant.RoleOwner || role == grant.RoleModerator {
		return false
	}
	switch audience {
	case Everyone:
		return true
	case Guests:
		return !account
	}
	return false
}
