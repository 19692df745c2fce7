package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/join"
	"github.com/spacecast/spacecast/controlplane/moderation"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/recording"
	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
)

// Error is an error the API answers as it is: {code, message[, field]}.
// The API makes them for what it checks itself (paths, bodies, rate
// limits); the services' errors become one in classify.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string // the offending request field, if any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errUnauthorized: a route that needs a token got none.
var errUnauthorized = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "a valid bearer token is required"}

// badInput is a request that is syntactically broken (400).
func badInput(code, field, msg string) error {
	return &Error{Status: http.StatusBadRequest, Code: code, Field: field, Message: msg}
}

// invalid is a well-formed request with an unacceptable value (422).
func invalid(code, field, msg string) error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: code, Field: field, Message: msg}
}

// classify is the one place where an error becomes an HTTP status and a
// machine code.
func classify(err error) *Error {
	var (
		ae      *Error
		denied  *access.DeniedError
		wrong   *join.WrongRoomError
		refused *waiting.RefusedError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, access.ErrUserToken):
		return &Error{Status: http.StatusForbidden, Code: "user_token_required", Message: "this method needs a user token, not a client token"}
	case errors.Is(err, access.ErrClientToken):
		return &Error{Status: http.StatusForbidden, Code: "client_token_required", Message: "this method needs a client token, not a user token"}
	case errors.As(err, &denied):
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: denied.Reason}
	case errors.Is(err, space.ErrOriginsOwnerOnly):
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Field: "allowedOrigins",
			Message: "allowedOrigins: only the space's owner may change the origins allowed to frame its rooms"}
	case errors.Is(err, space.ErrWebhookInactive):
		return &Error{Status: http.StatusConflict, Code: "webhook_inactive", Message: "the space has no active webhook to deliver to"}
	case errors.Is(err, space.ErrOwnerKeepsRole):
		return &Error{Status: http.StatusConflict, Code: "owner_role", Field: "targetUserId", Message: "targetUserId: the room's owner keeps role_room_owner"}
	case errors.As(err, &wrong):
		return wrongRoom(wrong.Credential)
	case errors.Is(err, join.ErrRoomPrivate):
		return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "this room is private: join with an access link, a session or a user token"}
	case errors.Is(err, join.ErrSpacePrivate):
		return &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "this room's space is private: join with an access link, a session or a user token"}
	case errors.Is(err, join.ErrAdmissionGone):
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "sessionToken: the user or link that admitted this session no longer exists"}
	case errors.Is(err, join.ErrRemoved):
		return &Error{Status: http.StatusForbidden, Code: "participant_removed", Message: "a moderator removed this participant from the room"}
	case errors.As(err, &refused):
		msg := "a moderator refused you entry to this room"
		if refused.Reason != "" {
			msg += ": " + refused.Reason
		}
		return &Error{Status: http.StatusForbidden, Code: "waiting_refused", Message: msg}
	case errors.Is(err, waiting.ErrGone):
		return &Error{Status: http.StatusGone, Code: "waiting_gone", Field: "ticket",
			Message: "ticket: this place in the waiting room is gone (it was left, timed out, or never was); join the room again"}
	case errors.Is(err, waiting.ErrDecided):
		return &Error{Status: http.StatusConflict, Code: "waiting_decided", Message: "a moderator already decided otherwise on this entry"}
	case errors.Is(err, moderation.ErrEdgeUnavailable):
		return &Error{Status: http.StatusBadGateway, Code: "edge_unavailable", Message: "the edge hosting the room did not answer; retry shortly"}
	case errors.Is(err, moderation.ErrNotConnected):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "participant not found in the room"}
	case errors.Is(err, recording.ErrNotAllowed):
		return &Error{Status: http.StatusForbidden, Code: "recording_not_allowed", Message: "this room does not allow recording (isRecordAllowed)"}
	case errors.Is(err, recording.ErrNoCall):
		return &Error{Status: http.StatusConflict, Code: "no_call", Message: "no call is live in the room: a recording starts during a call"}
	case errors.Is(err, recording.ErrRecording):
		return &Error{Status: http.StatusConflict, Code: "already_recording", Message: "the room is being recorded already"}
	case errors.Is(err, recording.ErrNotRecording):
		return &Error{Status: http.StatusConflict, Code: "not_recording", Message: "the room is not being recorded"}
	case errors.Is(err, recording.ErrNotReady):
		return &Error{Status: http.StatusConflict, Code: "record_not_ready", Message: "the recording has no file to download (it runs, is being processed, or failed before one was made)"}
	case errors.Is(err, recording.ErrNoStorage):
		return &Error{Status: http.StatusServiceUnavailable, Code: "no_storage", Message: "no storage is configured for recordings"}
	case errors.Is(err, moderation.ErrNoSuchTrack):
		return &Error{Status: http.StatusNotFound, Code: "track_not_found", Message: "the participant publishes no such track"}
	}
	entity, code := "entity", "entity"
	var ee *access.EntityError
	if errors.As(err, &ee) {
		entity, code = ee.Entity, ee.Code
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
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the service is busy; retry shortly"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
}

// wrongRoom answers a join credential made for another room, naming the
// request field that carried it.
func wrongRoom(c join.Credential) *Error {
	e := &Error{Status: http.StatusForbidden, Code: "wrong_room"}
	switch c {
	case join.CredentialSession:
		e.Field, e.Message = "sessionToken", "sessionToken: the session is for another room"
	case join.CredentialLink:
		e.Field, e.Message = "accessToken", "accessToken: the link is for another room"
	case join.CredentialTicket:
		e.Field, e.Message = "ticket", "ticket: the waiting-room ticket is for another room"
	default:
		e.Field, e.Message = "embedToken", "embedToken: the token is for another room"
	}
	return e
}

// fieldf builds a message naming a field.
func fieldf(field, format string, args ...any) string {
	return field + ": " + fmt.Sprintf(format, args...)
}
