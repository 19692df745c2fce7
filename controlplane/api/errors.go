package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/store"
)

// Error is an error the API answers as it is: {code, message[, field]}.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string // the offending request field, if any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errors of the access rules.
var (
	errUnauthorized = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "a valid bearer token is required"}
	errUserToken    = &Error{Status: http.StatusForbidden, Code: "user_token_required", Message: "this method needs a user token, not a client token"}
	errClientToken  = &Error{Status: http.StatusForbidden, Code: "client_token_required", Message: "this method needs a client token, not a user token"}
	errForbidden    = &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "your role does not allow this"}
)

func forbidden(msg string) error {
	return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: msg}
}

// badInput is a request that is syntactically broken (400).
func badInput(code, field, msg string) error {
	return &Error{Status: http.StatusBadRequest, Code: code, Field: field, Message: msg}
}

// invalid is a well-formed request with an unacceptable value (422).
func invalid(code, field, msg string) error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: code, Field: field, Message: msg}
}

// entityError names the entity a store error is about, for the message and
// the code of 404 and 410 answers.
type entityError struct {
	entity string // "room", "invite", "access link", ...
	code   string // code prefix for 410: "invite", "access_link", "session"
	err    error
}

func (e *entityError) Error() string { return e.entity + ": " + e.err.Error() }
func (e *entityError) Unwrap() error { return e.err }

// about wraps a store error with the entity it concerns; nil stays nil.
func about(entity, code string, err error) error {
	if err == nil {
		return nil
	}
	return &entityError{entity: entity, code: code, err: err}
}

// classify is the one place where an error becomes an HTTP status and a
// machine code.
func classify(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	entity, code := "entity", "entity"
	var ee *entityError
	if errors.As(err, &ee) {
		entity, code = ee.entity, ee.code
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: entity + " not found"}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: entity + " already exists"}
	case errors.Is(err, store.ErrUsed):
		return &Error{Status: http.StatusGone, Code: code + "_used", Message: entity + " was already used"}
	case errors.Is(err, store.ErrExpired):
		return &Error{Status: http.StatusGone, Code: code + "_expired", Message: entity + " has expired"}
	case errors.Is(err, auth.ErrInvalidToken):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "the token is invalid, expired or revoked"}
	case errors.Is(err, placement.ErrNoEdge):
		return &Error{Status: http.StatusServiceUnavailable, Code: "no_edge", Message: "no media edge can take the call now; retry shortly"}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the service is busy; retry shortly"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
}

// fieldf builds a message naming a field.
func fieldf(field, format string, args ...any) string {
	return field + ": " + fmt.Sprintf(format, args...)
}
