package space

import "errors"

// Errors of the management rules, beside access's and the store's.
var (
	// ErrOwnerKeepsRole: the room's owner's role cannot change.
	ErrOwnerKeepsRole = errors.New("space: the room's owner keeps role_room_owner")
	// ErrOriginsOwnerOnly: only the space's owner changes the origins
	// allowed to frame its rooms.
	ErrOriginsOwnerOnly = errors.New("space: only the space's owner may change the origins allowed to frame its rooms")
	// ErrWebhookInactive: a redelivery needs an active webhook to deliver
	// to.
	ErrWebhookInactive = errors.New("space: the space has no active webhook to deliver to")
)
