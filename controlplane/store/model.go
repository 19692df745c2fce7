package store

import "time"

// ClientID identifies an API client (a tenant). Every other entity belongs to
// exactly one client.
type ClientID string

// UserID identifies a user of one client.
type UserID string

// SpaceID identifies a space.
type SpaceID string

// RoomID identifies a room.
type RoomID string

// Client is an API client: an integrator's backend with its own credentials.
type Client struct {
	ID         ClientID
	Name       string
	SecretHash string // encoded hash of the client secret; the secret itself is never stored
	CreatedAt  time.Time
}

// User is a person signed in through a client. Email is unique per client
// (case-insensitively).
type User struct {
	ID           UserID
	ClientID     ClientID
	Email        string
	Username     string
	Phone        string
	PasswordHash string
	CreatedAt    time.Time
}

// PersonalToken is a long-lived user token made by the user itself. Only a
// hash of the token is stored; the token is shown once at creation.
type PersonalToken struct {
	ID        string
	ClientID  ClientID
	UserID    UserID
	Name      string
	TokenHash string // lookup key: a fast hash (SHA-256 hex) of the random token
	CreatedAt time.Time
	ExpiresAt *time.Time
}

// SpaceRole is a user's role in a space.
type SpaceRole string

// Space roles, as the reference names them.
const (
	SpaceRoleOwner     SpaceRole = "role_space_owner"
	SpaceRoleModerator SpaceRole = "role_space_moderator"
	SpaceRoleUser      SpaceRole = "role_space_user"
)

// Space groups rooms. A public space is open to every user of its client; a
// private one to its owner, its moderators and the users it invited.
type Space struct {
	ID             SpaceID
	ClientID       ClientID
	OwnerID        UserID
	Name           string
	Description    string
	Logo           string
	IsPublic       bool
	AllowedOrigins []string // origins allowed to frame the room page (CSP frame-ancestors)
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// SpaceMember is a user's membership of a space.
type SpaceMember struct {
	SpaceID   SpaceID
	UserID    UserID
	Role      SpaceRole
	CreatedAt time.Time
}

// Invite is a single-use invitation into a space with a role.
type Invite struct {
	ID        string
	ClientID  ClientID
	SpaceID   SpaceID
	Role      SpaceRole
	CreatedBy UserID
	CreatedAt time.Time
	ExpiresAt *time.Time
	UsedBy    UserID // empty until activated
	UsedAt    *time.Time
}

// RoomType is the kind of call a room holds.
type RoomType string

// Room types of the reference.
const (
	RoomTypeLesson  RoomType = "lesson"
	RoomTypeWebinar RoomType = "webinar"
)

// RoomRole is a user's role in a room.
type RoomRole string

// Room roles, as the reference names them.
const (
	RoomRoleOwner     RoomRole = "role_room_owner"
	RoomRoleModerator RoomRole = "role_room_moderator"
	RoomRoleUser      RoomRole = "role_room_user"
)

// RoomFlags are the switches of the reference's room object.
type RoomFlags struct {
	IsChatAllowed                  bool
	IsScreensharingAllowed         bool
	IsCameraPublishingAllowed      bool
	IsMicrophonePublishingAllowed  bool
	IsScreenMediaPublishingAllowed bool
	IsRecordAllowed                bool
	IsAutoRecordingAllowed         bool
	IsHandRaisingAllowed           bool
	IsSelfRenamingAllowed          bool
	WaitingRoomAudience            string // "nobody", "guests", "everyone"
	RedirectURL                    string
}

// Room is one call place: a meeting (lesson) or a webinar.
type Room struct {
	ID              RoomID
	ClientID        ClientID
	SpaceID         SpaceID
	OwnerID         UserID
	Alias           string // short random URL-safe string, unique across the deployment
	ChannelID       string
	Name            string
	Type            RoomType
	IsPublic        bool
	MaxParticipants int // 0 means the deployment default
	Flags           RoomFlags
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// RoomWithRole is a room with a user's explicit role in it ("" for none).
type RoomWithRole struct {
	Room
	Role RoomRole
}

// RoomMember is a user's explicit role in a room.
type RoomMember struct {
	RoomID    RoomID
	UserID    UserID
	Role      RoomRole
	CreatedAt time.Time
}

// LinkRole is the role a generate-access link grants.
type LinkRole string

// Link roles of the reference.
const (
	LinkRoleUser      LinkRole = "user"
	LinkRoleModerator LinkRole = "moderator"
)

// AccessLink is a guest invitation to one room (the reference's
// generate-access). Unless permanent it is spent on first redemption.
type AccessLink struct {
	ID                string // also the token's jti
	ClientID          ClientID
	SpaceID           SpaceID
	RoomID            RoomID
	Username          string
	Role              LinkRole
	ExternalUserID    string
	ExternalMeetingID string
	Email             string
	Phone             string
	IsPermanent       bool
	CreatedBy         UserID
	CreatedAt         time.Time
	ExpiresAt         time.Time
	UsedAt            *time.Time
	Uses              int // number of successful redemptions
}

// Webhook is a space's event subscription.
type Webhook struct {
	SpaceID   SpaceID
	ClientID  ClientID
	URL       string
	Secret    string // HMAC key; returned to its owner, so stored as is
	IsActive  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SigningKey is a JWT signing key. Keys rotate: the newest active key signs,
// every key that has not expired verifies.
type SigningKey struct {
	ID        string // the JWT "kid"
	Secret    []byte
	CreatedAt time.Time
	// RetiredAt is when the key stopped signing (nil while it is current).
	RetiredAt *time.Time
	// ExpiresAt is when the key stops verifying (nil: never scheduled).
	ExpiresAt *time.Time
}

// RevocationHorizon is how long the revocations recorded by deletions last:
// no REST token lives longer (controlplane.Config caps the token TTLs at
// it), so a token of a deleted client or user has expired by then.
const RevocationHorizon = 366 * 24 * time.Hour

// RevocationKind says which tokens a TokenRevocation bars.
type RevocationKind string

// Revocation kinds.
const (
	// RevokeClient bars every token of the client Subject (its own, its
	// users', links, sessions): the client was deleted.
	RevokeClient RevocationKind = "client"
	// RevokeClientTokens bars the client's own tokens (audience client):
	// its secret was rotated.
	RevokeClientTokens RevocationKind = "client_tokens"
	// RevokeUser bars every token of user Subject of ClientID, and the
	// sessions it admitted.
	RevokeUser RevocationKind = "user"
	// RevokeToken bars one token: Subject is its jti.
	RevokeToken RevocationKind = "token"
	// RevokeFamily bars every token of a refresh-token family (the access
	// and refresh tokens descended from one sign-in): Subject is the family
	// id.
	RevokeFamily RevocationKind = "family"
	// RevokeParticipant bars a participant from a room (a moderator's
	// removal): Subject is "<room id>/<identity>", ClientID is empty;
	// IssuedBefore limits it to credentials issued at or before the
	// removal.
	RevokeParticipant RevocationKind = "participant"
)

// TokenRevocation bars tokens of ClientID until Until.
type TokenRevocation struct {
	// Seq orders revocations in commit order; the store assigns it.
	Seq      int64
	Kind     RevocationKind
	ClientID ClientID
	Subject  string
	// IssuedBefore, when set, limits the revocation to tokens issued at or
	// before it; nil bars every token it matches.
	IssuedBefore *time.Time
	CreatedAt    time.Time
	// Until is when the revocation may be forgotten: every token it bars
	// has expired by then.
	Until time.Time
}

// SpentToken is a used single-use token.
type SpentToken struct {
	ID       string // the token's jti
	ClientID ClientID
	SpentAt  time.Time
	// ExpiresAt is the token's exp: after it the mark may be forgotten.
	ExpiresAt time.Time
}

// Page selects a window of a list.
type Page struct {
	Offset int
	Limit  int // 0 means the default (50); implementations cap it at 500
}

// Page limits shared by every implementation.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// Normalize returns p with a negative offset raised to 0, a zero or negative
// limit replaced by DefaultPageLimit and a larger one capped at MaxPageLimit.
func (p Page) Normalize() Page {
	if p.Offset < 0 {
		p.Offset = 0
	}
	switch {
	case p.Limit <= 0:
		p.Limit = DefaultPageLimit
	case p.Limit > MaxPageLimit:
		p.Limit = MaxPageLimit
	}
	return p
}

// CallID identifies a call.
type CallID string

// Call is one stretch of time a room had participants on some edge: it
// starts with the first participant and finishes when the room has been
// empty on every edge for the finish grace (it is then recorded as
// finished when it emptied).
type Call struct {
	ID         CallID
	ClientID   ClientID
	SpaceID    SpaceID
	RoomID     RoomID
	RoomType   RoomType
	StartedAt  time.Time
	FinishedAt *time.Time // nil while the call is on
	// EmptySince is when the room last became empty while the call is on
	// (nil while it has participants): the call finishes after the grace.
	EmptySince *time.Time
	// Participants are in the call now (0 once it finished); Max is the
	// most there were at once.
	Participants, MaxParticipants int
	// TotalParticipants counts the sessions (a participant who reconnects
	// counts again), UniqueParticipants the distinct identities; both
	// count only the sessions the edges reported (EdgeRoomState.Sessions).
	TotalParticipants, UniqueParticipants int
}

// CallSession is one participant's stay in a call on one edge.
type CallSession struct {
	CallID   CallID
	SID      string // the edge's participant sid
	Identity string
	Name     string
	Edge     string
	JoinedAt time.Time
	LeftAt   *time.Time // nil while present
}

// EdgeReport is one batch of an edge's room occupancy (occupancy.Batch).
type EdgeReport struct {
	Edge string
	// Boot identifies one run of the edge's reporter; Seq grows by one per
	// batch within it: a batch at or below the last applied Seq of the same
	// Boot is stale.
	Boot string
	Seq  uint64
	// Full: Rooms is every room of the edge with participants; rooms left
	// out have none.
	Full  bool
	Rooms []EdgeRoomState
	// Records are the recordings the edge makes, as they stand (see
	// Records in records.go); in a Full report, a recording of this edge
	// the store holds as running and Records leaves out was lost.
	Records []RecordUpdate
}

// EdgeRoomState is what an edge says of one room.
type EdgeRoomState struct {
	Room         RoomID
	Participants int
	// Sessions are the participants present on the edge; nil when the
	// edge reports counts only (no sessions are then recorded for it).
	Sessions []SessionInfo
}

// SessionInfo is one participant an edge reports.
type SessionInfo struct {
	SID, Identity, Name string
}

// CallFilter selects calls: of one room (when set), started in [From, To)
// (when set).
type CallFilter struct {
	RoomID   RoomID
	From, To time.Time
}

// WebhookEvent is something that happened to a room, for its space's
// webhook.
type WebhookEvent struct {
	// ID identifies the event: the same on every attempt and redelivery,
	// so a receiver can drop what it already has.
	ID       string
	Name     string // call_started, call_finished, record_*
	ClientID ClientID
	SpaceID  SpaceID
	RoomID   RoomID
	CallID   CallID // for call events
	RecordID string // for record events
	At       time.Time
}

// DeliveryStatus is where a webhook delivery stands.
type DeliveryStatus string

// Delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"   // waiting for its next attempt, or in one
	DeliveryDelivered DeliveryStatus = "delivered" // the receiver answered 2xx
	DeliveryFailed    DeliveryStatus = "failed"    // given up: refused, retries or time exhausted, no webhook
)

// WebhookDelivery is one event's delivery to its space's webhook.
type WebhookDelivery struct {
	ID    string // the delivery's id
	Event WebhookEvent
	// Seq orders deliveries as they were queued; a room's go out in it.
	Seq            int64
	Status         DeliveryStatus
	Attempts       int // attempts started
	NextAttemptAt  time.Time
	LastAttemptAt  *time.Time
	LastStatusCode int    // HTTP status of the last attempt (0: none, or no answer)
	LastError      string // why the last attempt failed
	DeliveredAt    *time.Time
	CreatedAt      time.Time
	RedeliveryOf   string // the delivery this one repeats, if any
	// LeaseOwner holds the delivery for an attempt until LeaseUntil.
	LeaseOwner string
	LeaseUntil *time.Time
}

// WebhookClaim asks for deliveries to attempt.
type WebhookClaim struct {
	// Owner is the claiming replica (unique per process run).
	Owner string
	// Max bounds the deliveries handed out.
	Max int
	// PerTenant bounds the deliveries of one client in flight (leased and
	// unexpired) across every replica, these included.
	PerTenant int
	Now       time.Time
	// LeaseUntil is when the claimed deliveries may be claimed again if
	// their attempt is not recorded (the claimer died).
	LeaseUntil time.Time
}

// AttemptOutcome is how an attempt ended.
type AttemptOutcome int

// Attempt outcomes.
const (
	AttemptDelivered AttemptOutcome = iota + 1 // 2xx: done
	AttemptRetry                               // try again at NextAttemptAt
	AttemptFailed                              // give up
)

// WebhookAttempt is the outcome of one attempt of a claimed delivery.
type WebhookAttempt struct {
	ClientID   ClientID
	DeliveryID string
	Owner      string
	// Attempt is the delivery's Attempts as claimed: an attempt whose
	// lease passed to another claim records nothing.
	Attempt       int
	Outcome       AttemptOutcome
	At            time.Time
	NextAttemptAt time.Time // AttemptRetry
	StatusCode    int
	Error         string
}

// RecordID identifies a recording (the edge that records names it).
type RecordID string

// RecordState is where a recording stands; states only move forward.
type RecordState string

// Recording states.
const (
	RecordRecording  RecordState = "recording"  // the edge records the call
	RecordProcessing RecordState = "processing" // composing and storing
	RecordFinished   RecordState = "finished"   // stored, with its composed file
	RecordFailed     RecordState = "failed"     // ended by a failure; what was written is kept
)

// Terminal reports whether s is final.
func (s RecordState) Terminal() bool { return s == RecordFinished || s == RecordFailed }

// rank orders the states (the final ones last).
func (s RecordState) rank() int {
	switch s {
	case RecordRecording:
		return 0
	case RecordProcessing:
		return 1
	}
	return 2
}

// Record is a recording of a call.
type Record struct {
	ID       RecordID
	ClientID ClientID
	SpaceID  SpaceID
	RoomID   RoomID
	// CallID is the call that was on when the recording started ("" when
	// none was known yet).
	CallID CallID
	// Edge is the edge that records.
	Edge  string
	Name  string
	State RecordState
	// Error says why a failed recording failed.
	Error string
	// FileKey is the storage key of the composed MP4 (the download; ""
	// when none was made), FileSize its size.
	FileKey    string
	FileSize   int64
	DurationMs int64
	// Files are every stored file of the recording.
	Files      []RecordFile
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt *time.Time
}

// RecordFile is one stored file of a recording.
type RecordFile struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// RecordUpdate is what an edge says of one of its recordings.
type RecordUpdate struct {
	ID         RecordID
	Room       RoomID
	State      RecordState
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time // zero while it runs
	DurationMs int64
	FileKey    string
	FileSize   int64
	Files      []RecordFile
}

// RecordFilter selects a room's recordings started in [From, To) (each
// bound when set).
type RecordFilter struct {
	From, To time.Time
}
