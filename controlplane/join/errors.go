package join

import (
	"errors"
	"fmt"
)

// Errors of a join, beside those of access, store, auth and placement.
var (
	// ErrRoomPrivate: a guest (no credential) asked to join a private
	// room.
	ErrRoomPrivate = errors.New("join: the room is private")
	// ErrSpacePrivate: a guest asked to join a public room of a private
	// space.
	ErrSpacePrivate = errors.New("join: the room's space is private")
	// ErrAdmissionGone: the user or link that admitted a session no longer
	// exists.
	ErrAdmissionGone = errors.New("join: the user or link that admitted this session no longer exists")
	// ErrRemoved: a moderator removed the participant after its
	// credential was issued.
	ErrRemoved = errors.New("join: a moderator removed this participant from the room")
)

// Credential names the kind of credential a join presented.
type Credential int

// Kinds of credential, in order of precedence.
const (
	CredentialSession Credential = iota + 1
	CredentialLink
	CredentialEmbed
	// CredentialTicket is a waiting-room ticket.
	CredentialTicket
)

func (c Credential) String() string {
	switch c {
	case CredentialSession:
		return "session"
	case CredentialLink:
		return "link"
	case CredentialEmbed:
		return "embed token"
	case CredentialTicket:
		return "waiting ticket"
	}
	return fmt.Sprintf("credential(%d)", int(c))
}

// WrongRoomError: the credential is valid but for another room.
type WrongRoomError struct{ Credential Credential }

func (e *WrongRoomError) Error() string {
	return "join: the " + e.Credential.String() + " is for another room"
}
