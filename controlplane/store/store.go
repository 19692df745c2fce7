package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them with %w; callers test with
// errors.Is. The HTTP layer maps them to status codes in one place.
var (
	// ErrNotFound: no such entity for this client (a foreign id is not found).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique key is taken (e-mail per client, room alias, ...).
	ErrConflict = errors.New("store: conflict")
	// ErrUsed: a single-use invite or link was already spent.
	ErrUsed = errors.New("store: already used")
	// ErrExpired: an invite or link is past its expiry.
	ErrExpired = errors.New("store: expired")
	// ErrUnavailable: the store cannot serve the call now (a statement or
	// lock timeout, no connection to be had, a server shutting down); the
	// caller may retry.
	ErrUnavailable = errors.New("store: unavailable")
)

// Store is the control plane's persistence. Every method is a single atomic
// operation; methods that take a ClientID never see or touch rows of another
// client and answer ErrNotFound for them (so does a create whose parent
// entity, such as the space of a new room, is missing or foreign).
// Implementations are safe for concurrent use. Times are kept at millisecond
// precision and returned in UTC.
type Store interface {
	Clients
	Users
	Spaces
	Rooms
	Access
	Webhooks
	SigningKeys
	Tokens
	RateLimits
	Changes
	Calls
	Records
	Deliveries
	WaitingRooms

	// Ping reports whether the store can serve requests (for /readyz).
	Ping(ctx context.Context) error
	// Close releases the store's resources; safe to call twice.
	Close() error
}

// Clients are the API clients (tenants), managed by the operator.
type Clients interface {
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id ClientID) (Client, error)
	// ListClients returns every client, newest first.
	ListClients(ctx context.Context) ([]Client, error)
	// SetClientSecret replaces the stored secret hash and, in the same
	// transaction, revokes the client's own tokens (RevokeClientTokens)
	// issued at or before at: the tokens the old secret got.
	SetClientSecret(ctx context.Context, id ClientID, secretHash string, at time.Time) error
	// DeleteClient removes the client and everything it owns and, in the
	// same transaction, revokes every token of the client (RevokeClient,
	// for RevocationHorizon).
	DeleteClient(ctx context.Context, id ClientID) error
}

// Users are the people of one client, and their personal tokens.
type Users interface {
	// CreateUser fails with ErrConflict when the e-mail is taken in the client
	// (compared case-insensitively).
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, client ClientID, id UserID) (User, error)
	GetUserByEmail(ctx context.Context, client ClientID, email string) (User, error)
	// DeleteUser removes the user, its memberships, room roles and personal
	// tokens and, in the same transaction, revokes every token of the user
	// (RevokeUser, for RevocationHorizon).
	DeleteUser(ctx context.Context, client ClientID, id UserID) error

	CreatePersonalToken(ctx context.Context, t PersonalToken) error
	// ListPersonalTokens lists the user's tokens, newest first; an unknown
	// user gives ErrNotFound.
	ListPersonalTokens(ctx context.Context, client ClientID, user UserID) ([]PersonalToken, error)
	// GetPersonalTokenByHash finds a token by the hash of its secret value.
	GetPersonalTokenByHash(ctx context.Context, tokenHash string) (PersonalToken, error)
	DeletePersonalToken(ctx context.Context, client ClientID, user UserID, id string) error
}

// Spaces are spaces, their members and their invites.
type Spaces interface {
	// CreateSpace stores the space and makes its owner a member with
	// SpaceRoleOwner, in one transaction.
	CreateSpace(ctx context.Context, s Space) error
	GetSpace(ctx context.Context, client ClientID, id SpaceID) (Space, error)
	// ListSpacesForUser lists the spaces the user owns or is a member of,
	// newest first, with the total count; an unknown user gives ErrNotFound.
	ListSpacesForUser(ctx context.Context, client ClientID, user UserID, p Page) ([]Space, int, error)
	// UpdateSpace replaces the mutable fields (name, description, logo,
	// isPublic, allowed origins) and UpdatedAt.
	UpdateSpace(ctx context.Context, s Space) error
	// DeleteSpace removes the space with its rooms, members, invites, links
	// and webhook.
	DeleteSpace(ctx context.Context, client ClientID, id SpaceID) error

	GetSpaceMember(ctx context.Context, client ClientID, space SpaceID, user UserID) (SpaceMember, error)
	// ListSpaceMembers lists the members, oldest first; an unknown space
	// gives ErrNotFound.
	ListSpaceMembers(ctx context.Context, client ClientID, space SpaceID) ([]SpaceMember, error)

	CreateInvite(ctx context.Context, inv Invite) error
	GetInvite(ctx context.Context, client ClientID, space SpaceID, id string) (Invite, error)
	// ActivateInvite spends the invite for user and makes the user a member
	// with the invite's role (never lowering a role the user already has), in
	// one atomic operation. Of any number of concurrent callers exactly one
	// succeeds; the others get ErrUsed. A past-expiry invite gives ErrExpired.
	ActivateInvite(ctx context.Context, client ClientID, space SpaceID, id string, user UserID, now time.Time) (Invite, error)
}

// Rooms are rooms and their explicit roles.
type Rooms interface {
	// CreateRoom stores the room and gives its owner RoomRoleOwner, in one
	// transaction. A taken alias gives ErrConflict (the caller draws another).
	CreateRoom(ctx context.Context, r Room) error
	GetRoom(ctx context.Context, client ClientID, space SpaceID, id RoomID) (Room, error)
	// GetRoomByAlias looks a room up by its deployment-wide alias. It is not
	// scoped by client: the public join path has no client yet; callers that
	// hold a client compare Room.ClientID themselves.
	GetRoomByAlias(ctx context.Context, alias string) (Room, error)
	// GetRoomByID looks a room up by id, not scoped by client: edges know a
	// room only by its id (the LiveKit room name), and the control plane
	// resolves their events (webhooks) with it.
	GetRoomByID(ctx context.Context, id RoomID) (Room, error)
	// ListRooms lists the rooms of a space, newest first, with the total; an
	// unknown space gives ErrNotFound.
	ListRooms(ctx context.Context, client ClientID, space SpaceID, p Page) ([]Room, int, error)
	// ListVisibleRooms lists the rooms of a space that user may see in it
	// (the public ones and those where the user holds a role), each with
	// the user's role ("" for none): newest first, ties broken by id, the
	// page cut and the total counted in the query, so every room can be
	// reached whatever the size of the space. Whether the user may see the
	// space itself is the caller's rule. An unknown space gives ErrNotFound.
	ListVisibleRooms(ctx context.Context, client ClientID, space SpaceID, user UserID, p Page) ([]RoomWithRole, int, error)
	// UpdateRoom replaces the mutable fields (name, type, isPublic, max
	// participants, flags) and UpdatedAt.
	UpdateRoom(ctx context.Context, r Room) error
	// DeleteRoom removes the room, its roles and its access links.
	DeleteRoom(ctx context.Context, client ClientID, space SpaceID, id RoomID) error

	// SetRoomMember inserts or replaces a user's role in a room.
	SetRoomMember(ctx context.Context, client ClientID, m RoomMember) error
	GetRoomMember(ctx context.Context, client ClientID, room RoomID, user UserID) (RoomMember, error)
	// ListRoomMembers lists the room's explicit roles, oldest first (ties
	// by user id), a page of them with the total; an unknown room gives
	// ErrNotFound.
	ListRoomMembers(ctx context.Context, client ClientID, room RoomID, p Page) ([]RoomMember, int, error)
}

// Access are the generate-access links of rooms.
type Access interface {
	CreateAccessLink(ctx context.Context, l AccessLink) error
	GetAccessLink(ctx context.Context, client ClientID, id string) (AccessLink, error)
	// RedeemAccessLink spends a single-use link (or counts a use of a
	// permanent one) in one atomic operation and returns it as redeemed. Of
	// any number of concurrent redeemers of a single-use link exactly one
	// succeeds; the others get ErrUsed. A link past ExpiresAt gives
	// ErrExpired, whether or not it was used.
	RedeemAccessLink(ctx context.Context, client ClientID, id string, now time.Time) (AccessLink, error)
}

// Webhooks are the per-space webhook subscriptions.
type Webhooks interface {
	// PutWebhook inserts or replaces the space's webhook.
	PutWebhook(ctx context.Context, w Webhook) error
	GetWebhook(ctx context.Context, client ClientID, space SpaceID) (Webhook, error)
	DeleteWebhook(ctx context.Context, client ClientID, space SpaceID) error
}

// Tokens are the records about issued JWTs that every control-plane replica
// shares: revocations, which each replica reads as they come (a JWT is
// otherwise valid until its exp on any replica), and the ids of spent
// single-use tokens (rotated refresh tokens, embed tokens).
type Tokens interface {
	// RevokeTokens records r and returns the Seq it got (r.Seq is
	// ignored). Revocations whose Until is before r.CreatedAt may be
	// forgotten by the same call.
	RevokeTokens(ctx context.Context, r TokenRevocation) (int64, error)
	// ListTokenRevocations returns the revocations with a Seq above after
	// and an Until after now, by increasing Seq. Seq follows commit order:
	// once a reader has seen Seq n, no revocation with a Seq at or below n
	// can commit later, so a reader that asks for what came after the
	// highest Seq it saw misses nothing. (SQLite's single writer gives this
	// for free; a PostgreSQL store must assign Seq under a lock taken until
	// commit, or hold back Seqs above the oldest open writer.)
	ListTokenRevocations(ctx context.Context, after int64, now time.Time) ([]TokenRevocation, error)
	// SpendToken marks the single-use token t spent. Of any number of
	// spenders of one (client, id) exactly one succeeds; the others get
	// ErrUsed, and when onReuse is not nil that revocation is recorded in
	// the same transaction as the refusal (refresh-token reuse revokes the
	// whole family at once, whatever happens to the caller next). Spent
	// marks past their ExpiresAt may be forgotten: the token they stand for
	// is refused by its exp by then.
	SpendToken(ctx context.Context, t SpentToken, onReuse *TokenRevocation) error
}

// SigningKeys are the JWT signing keys shared by every control-plane replica.
type SigningKeys interface {
	// AddSigningKey stores a new key; it fails with ErrConflict for a used id.
	AddSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every stored key, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// RetireSigningKey stops a key from signing and schedules its expiry.
	RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error
	// DeleteExpiredSigningKeys removes keys whose ExpiresAt is before now.
	DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error
}

// RateLimits are token buckets shared by every replica (the generic cell
// rate algorithm: a bucket is its theoretical arrival time, TAT). A bucket
// holds up to burst tokens and regains one every interval; a missing
// bucket is full.
type RateLimits interface {
	// TakeRateToken takes one token from bucket key at now, if it has one,
	// in one atomic operation: of concurrent takers on any replica no more
	// succeed than the bucket holds. It returns whether a token was taken
	// and the bucket's TAT afterwards (when it is full again; with
	// ok false, the next token is there at tat - (burst-1)·interval).
	TakeRateToken(ctx context.Context, key string, interval time.Duration, burst int, now time.Time) (ok bool, tat time.Time, err error)
	// RefundRateToken gives back one token of bucket key (never beyond a
	// full bucket).
	RefundRateToken(ctx context.Context, key string, interval time.Duration, now time.Time) error
	// PruneRateTokens forgets the buckets that are full at now.
	PruneRateTokens(ctx context.Context, now time.Time) error
}

// Topic names a kind of change that replicas cache.
type Topic string

// Topics of Changes.
const (
	// TopicKeys: signing keys were added, retired or deleted.
	TopicKeys Topic = "keys"
	// TopicRevocations: a token revocation was recorded.
	TopicRevocations Topic = "revocations"
	// TopicRooms: a room, a room role or a space changed or went (read
	// caches of rooms and roles).
	TopicRooms Topic = "rooms"
	// TopicDeliveries: a webhook delivery was queued.
	TopicDeliveries Topic = "deliveries"
	// TopicWaiting: someone entered or left a waiting room, or a moderator
	// decided on an entry.
	TopicWaiting Topic = "waiting"
)

// Topics lists every topic.
func Topics() []Topic {
	return []Topic{TopicKeys, TopicRevocations, TopicRooms, TopicDeliveries, TopicWaiting}
}

// Changes tells a replica what was changed through the store, so that it
// drops what it caches at once instead of when a TTL runs out.
type Changes interface {
	// Listen calls fn with the topic of every committed change made
	// through this store (PostgreSQL: through any replica's store on the
	// database) until ctx ends, then returns ctx's error. Calls come from
	// Listen's goroutine, one at a time; several changes of one topic may
	// come as one call, and fn must not block for long. When changes may
	// have been missed (a lost connection, now back) fn is called with
	// every topic. Listen returns another error only if it cannot listen
	// at all.
	Listen(ctx context.Context, fn func(Topic)) error
}

// Calls are the calls the edges' reports show, with their participants:
// call history and analytics, and the source of call_started and
// call_finished. Any replica may take any edge's report.
type Calls interface {
	// ApplyEdgeReport applies an edge's batch at now, in one transaction:
	// the edge's rooms and their sessions, calls that start (with their
	// call_started delivery when the space has an active webhook: state
	// and event are written together), sessions that begin and end. A
	// stale batch (at or below the last Seq applied of the same Boot)
	// changes nothing. A room the store does not know starts no call.
	ApplyEdgeReport(ctx context.Context, r EdgeReport, now time.Time) error
	// SweepCalls counts the rooms of edges silent since before
	// silentBefore as empty (their sessions end when the edge was last
	// heard) and finishes the calls of rooms empty since before
	// emptyBefore (finished when they emptied), each with its
	// call_finished delivery in the same transaction. It returns the calls
	// it finished. Every replica may sweep at once: each call finishes once.
	SweepCalls(ctx context.Context, silentBefore, emptyBefore time.Time) (int, error)
	// ListCalls lists a space's calls matching f, newest first, with the
	// total; an unknown space gives ErrNotFound.
	ListCalls(ctx context.Context, client ClientID, space SpaceID, f CallFilter, p Page) ([]Call, int, error)
	// GetCall returns one call of a space.
	GetCall(ctx context.Context, client ClientID, space SpaceID, id CallID) (Call, error)
	// ListCallSessions lists a call's sessions by join time; an unknown
	// call gives ErrNotFound.
	ListCallSessions(ctx context.Context, client ClientID, space SpaceID, id CallID) ([]CallSession, error)
}

// Records are the recordings of calls, as the edges that make them
// report them (through EdgeReport.Records, or ApplyRecords for the answer
// of an edge asked to start one): a recording appears with its
// record_started delivery and ends with its record_finished or
// record_failed in the same transaction. A recording whose edge was lost
// (silent, or restarted without it) ends failed.
type Records interface {
	// ApplyRecords applies what edge says of its recordings, at now, in
	// one transaction: as ApplyEdgeReport does with Records. A recording
	// of a room the store does not know is ignored.
	ApplyRecords(ctx context.Context, edge string, rs []RecordUpdate, now time.Time) error
	// ListRecords lists a room's recordings matching f, newest first,
	// with the total; an unknown room gives ErrNotFound.
	ListRecords(ctx context.Context, client ClientID, space SpaceID, room RoomID, f RecordFilter, p Page) ([]Record, int, error)
	// GetRecord returns one recording of a room.
	GetRecord(ctx context.Context, client ClientID, space SpaceID, room RoomID, id RecordID) (Record, error)
}

// Deliveries are the webhook outbox: events waiting for delivery, claimed
// by any replica for an attempt, and the log of what became of them.
type Deliveries interface {
	// EnqueueWebhookEvent queues ev for delivery when its space has an
	// active webhook, under delivery id; false when there is none.
	EnqueueWebhookEvent(ctx context.Context, id string, ev WebhookEvent, now time.Time) (bool, error)
	// ClaimWebhookDeliveries leases due deliveries to c.Owner for one
	// attempt each (counting it): at most c.Max, at most c.PerTenant of
	// one client in flight, the oldest of each client first and clients in
	// turn, and only the first pending delivery of each room (a room's
	// events go out in order). Of concurrent claimers on any replica, each
	// delivery goes to one.
	ClaimWebhookDeliveries(ctx context.Context, c WebhookClaim) ([]WebhookDelivery, error)
	// RecordWebhookAttempt records how a claimed attempt ended; an attempt
	// whose lease was lost (ErrNotFound) records nothing.
	RecordWebhookAttempt(ctx context.Context, a WebhookAttempt) error
	// ListWebhookDeliveries lists a space's deliveries, newest first, with
	// the total; an unknown space gives ErrNotFound.
	ListWebhookDeliveries(ctx context.Context, client ClientID, space SpaceID, p Page) ([]WebhookDelivery, int, error)
	// GetWebhookDelivery returns one delivery of a space.
	GetWebhookDelivery(ctx context.Context, client ClientID, space SpaceID, id string) (WebhookDelivery, error)
	// RedeliverWebhook queues the event of delivery id again as a new
	// delivery newID (the event keeps its id), when the space has an active
	// webhook (else ErrConflict).
	RedeliverWebhook(ctx context.Context, client ClientID, space SpaceID, id, newID string, now time.Time) (WebhookDelivery, error)
	// PruneWebhookDeliveries forgets the finished deliveries (delivered
	// or failed) created before before; it returns how many.
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error)
	// PendingWebhookDeliveries counts the deliveries not finished yet, of
	// every client (claimed or waiting): the outbox's depth.
	PendingWebhookDeliveries(ctx context.Context) (int, error)
}
