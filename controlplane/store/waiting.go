package store

import (
	"context"
	"strings"
	"time"
)

// WaitingState is where a waiting-room entry stands.
type WaitingState string

// Waiting-room entry states. An entry starts waiting; a moderator moves
// it to admitted or refused, once.
const (
	WaitingStateWaiting  WaitingState = "waiting"
	WaitingStateAdmitted WaitingState = "admitted"
	WaitingStateRefused  WaitingState = "refused"
)

// WaitingEntry is one person in a room's waiting room: who would join
// (what a join would have admitted, kept so that the admission completes
// the join later, on any replica) and where the moderators' decision
// stands.
type WaitingEntry struct {
	ID       string // shown to moderators (24 hex)
	ClientID ClientID
	RoomID   RoomID
	// TicketHash is the hash (auth.TokenHash) of the waiter's ticket, the
	// secret it polls with; the ticket itself is never stored.
	TicketHash string

	// Who would join, as the join found it.
	Identity string
	Name     string
	Role     string // the call role before a webinar makes participants viewers
	UserID   UserID // the user's account, "" for a guest
	LinkID   string // the access link that admitted it, if any
	Family   string // the refresh family of the user's sign-in, if any
	// Issued is when the credential that admitted it was issued (zero for
	// a user token or none): a moderator's removal bars older ones.
	Issued time.Time
	// Until is the latest its session may last (zero: the session TTL).
	Until time.Time

	State  WaitingState
	Reason string // why a moderator refused (may be empty)
	// CreatedAt is when it started waiting; SeenAt when its page last
	// asked about it; DecidedAt when a moderator decided (zero while
	// waiting).
	CreatedAt time.Time
	SeenAt    time.Time
	DecidedAt time.Time
	// ExpiresAt is when the entry is gone: a waiting entry whose page
	// stops asking, an admitted one whose ticket was not exchanged for a
	// join in time, a refused one whose refusal no longer needs keeping.
	ExpiresAt time.Time
}

// WaitingDecision moves the waiting entries of one room to a moderator's
// decision.
type WaitingDecision struct {
	ClientID ClientID
	RoomID   RoomID
	// IDs are the entries decided; empty means every entry of the room
	// waiting at At.
	IDs    []string
	State  WaitingState // admitted or refused
	Reason string
	At     time.Time
	// ExpiresAt is the decided entries' new expiry.
	ExpiresAt time.Time
}

// WaitingRooms are the rooms' waiting rooms, shared by every replica: the
// waiter's page may ask one replica while a moderator decides on another.
// Every change (an entry, a decision, a departure) is a TopicWaiting
// change.
type WaitingRooms interface {
	// CreateWaiting stores a new waiting entry; a missing or foreign room
	// gives ErrNotFound, a used id or ticket hash ErrConflict.
	CreateWaiting(ctx context.Context, e WaitingEntry) error
	// GetWaitingByTicket finds an entry by the hash of its ticket, whatever
	// its state or expiry (the ticket is the credential: not scoped by
	// client).
	GetWaitingByTicket(ctx context.Context, ticketHash string) (WaitingEntry, error)
	// GetWaiting returns one entry of a room, whatever its state or expiry.
	GetWaiting(ctx context.Context, client ClientID, room RoomID, id string) (WaitingEntry, error)
	// ListWaiting lists the room's entries still waiting at now (state
	// waiting, ExpiresAt after now), oldest first, ties by id.
	ListWaiting(ctx context.Context, client ClientID, room RoomID, now time.Time) ([]WaitingEntry, error)
	// TouchWaiting records that the entry's page asked at now and keeps
	// the entry until expires. Only an entry still waiting at now is
	// touched; any other gives ErrNotFound. It is not a change.
	TouchWaiting(ctx context.Context, client ClientID, id string, now, expires time.Time) error
	// DecideWaiting moves the entries d names (or all) that are still
	// waiting at d.At to d.State, in one conditional update: of concurrent
	// decisions on one entry exactly one applies. It returns the entries it
	// moved, oldest first; none is not an error.
	DecideWaiting(ctx context.Context, d WaitingDecision) ([]WaitingEntry, error)
	// DeleteWaiting removes an entry (its page left); ErrNotFound if there
	// is none.
	DeleteWaiting(ctx context.Context, client ClientID, id string) error
	// FindRefusedWaiting returns the most recent refused entry of room
	// that came with link (when linkID is not empty) or from user (when
	// user is not empty) and has not expired at now; ErrNotFound if none.
	FindRefusedWaiting(ctx context.Context, client ClientID, room RoomID, linkID string, user UserID, now time.Time) (WaitingEntry, error)
	// PruneWaiting forgets the entries expired at now; it returns how
	// many.
	PruneWaiting(ctx context.Context, now time.Time) (int, error)
}

// CompareWaiting orders entries as ListWaiting does: oldest first, ties
// by id.
func CompareWaiting(a, b WaitingEntry) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}
