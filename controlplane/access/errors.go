package access

import "errors"

// Errors of the token kind a method needs.
var (
	// ErrUserToken: the method needs a user (or personal) token and got a
	// client token.
	ErrUserToken = errors.New("access: a user token is required, not a client token")
	// ErrClientToken: the method needs a client token and got a user token.
	ErrClientToken = errors.New("access: a client token is required, not a user token")
)

// DeniedError is a refusal by the access rules: the caller's roles do not
// allow what it asked. Reason says why, for the caller to read.
type DeniedError struct{ Reason string }

func (e *DeniedError) Error() string { return "access: denied: " + e.Reason }

// Deny refuses with reason.
func Deny(reason string) error { return &DeniedError{Reason: reason} }

// EntityError names the entity a store error is about, so that the answer
// can say "room not found" or "access_link_used".
type EntityError struct {
	Entity string // "room", "invite", "access link", ...
	Code   string // machine-name prefix: "room", "invite", "access_link", ...
	Err    error
}

func (e *EntityError) Error() string { return e.Entity + ": " + e.Err.Error() }
func (e *EntityError) Unwrap() error { return e.Err }

// About wraps err (typically a store sentinel) with the entity it
// concerns; nil stays nil.
func About(entity, code string, err error) error {
	if err == nil {
		return nil
	}
	return &EntityError{Entity: entity, Code: code, Err: err}
}
