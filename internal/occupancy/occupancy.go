package occupancy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Path is where a control plane takes edge batches (POST, JSON Batch,
// Authorization: Bearer <Sign's token>). It answers 204 when the batch is
// taken, 400 for a malformed batch, 401 without a valid token, 503 when it
// cannot take it now (the edge retries).
const Path = "/internal/v1/edge-events"

// Limits of a batch; Decode refuses more.
const (
	MaxRooms        = 10000   // rooms in one batch
	MaxNameLen      = 256     // bytes in an edge or room name
	MaxParticipants = 1 << 20 // participants of one room on one edge
	// MaxSessions bounds the sessions a batch lists for one room; a room
	// with more is reported by its count alone.
	MaxSessions = 2000
	// MaxBodyBytes bounds an encoded batch (MaxRooms long names fit).
	MaxBodyBytes = 4 << 20
	// MaxRecords bounds the recordings of one batch, MaxRecordFiles the
	// files of one recording, MaxErrorLen the bytes of a failure's reason.
	MaxRecords     = 1000
	MaxRecordFiles = 256
	MaxErrorLen    = 1024
)

// Audience is the JWT audience of edge batches: a media token signed with
// the same cluster key is not accepted here, nor the other way round.
const Audience = "spacecast:edge-events"

// TokenTTL is how long a batch token is valid (plus Leeway for clock skew).
const (
	TokenTTL = time.Minute
	Leeway   = 30 * time.Second
)

// Sentinel errors.
var (
	// ErrInvalid marks a malformed batch or a bad configuration.
	ErrInvalid = errors.New("occupancy: invalid")
	// ErrUnauthorized marks a missing, malformed, expired or forged token, or
	// one that does not cover the body it came with.
	ErrUnauthorized = errors.New("occupancy: unauthorized")
)

// Sink takes an edge's batches: the edge's HTTP client (to a control
// plane) or, in one process, the control plane's call tracker itself.
// Report may block up to ctx; an error makes the sender retry.
type Sink interface {
	Report(ctx context.Context, b Batch) error
}

// Batch is what an edge sends: the participant counts of rooms that
// changed, in the order they changed, or (Full) its whole state. Counts are
// absolute, so applying a batch twice is harmless.
type Batch struct {
	// Edge is the sending edge's node id.
	Edge string `json:"edge"`
	// Boot identifies one run of the edge's Reporter; Seq grows by one per
	// batch within it, so a receiver can ignore a stale, late retry.
	Boot string `json:"boot"`
	Seq  uint64 `json:"seq"`
	// Full: Rooms is every room of the edge that has participants; rooms
	// it leaves out have none.
	Full  bool        `json:"full"`
	Rooms []RoomState `json:"rooms"`
	// Records are the recordings this edge makes whose state changed, in
	// the order they changed; in a Full batch, every recording the edge
	// still runs or has not yet had taken in a final state: a recording
	// of this edge the control plane holds as running and a Full batch
	// leaves out was lost with the edge's previous run.
	Records []RecordState `json:"records,omitempty"`
}

// Recording states (RecordState.State).
const (
	RecordRecording  = "recording"  // the edge records the room
	RecordProcessing = "processing" // the call ended: composing and uploading
	RecordFinished   = "finished"   // stored, composed file and track files
	RecordFailed     = "failed"     // ended by a failure; what was written is kept
)

// RecordState is a recording an edge makes of a room and where it stands.
// States are absolute, so a state applied twice changes nothing; they
// only move forward (recording, processing, then finished or failed).
type RecordState struct {
	ID    string `json:"id"`
	Room  string `json:"room"`
	State string `json:"state"`
	// Error says why a failed recording failed.
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	DurationMs int64     `json:"durationMs,omitempty"`
	// Composed is the storage key of the composed MP4 (the download),
	// ComposedBytes its size; empty when none was made.
	Composed      string `json:"composed,omitempty"`
	ComposedBytes int64  `json:"composedBytes,omitempty"`
	// Files are the stored files of the recording (track files, the
	// manifest, the composed MP4).
	Files []RecordFile `json:"files,omitempty"`
}

// RecordFile is one stored file of a recording.
type RecordFile struct {
	Key   string `json:"key"`
	Bytes int64  `json:"bytes"`
}

// Terminal reports whether the state is final.
func (r RecordState) Terminal() bool { return r.State == RecordFinished || r.State == RecordFailed }

// Validate checks a recording's fields.
func (r RecordState) Validate() error {
	switch {
	case r.ID == "" || len(r.ID) > MaxNameLen, r.Room == "" || len(r.Room) > MaxNameLen:
		return fmt.Errorf("%w: record id and room must be 1 to %d bytes", ErrInvalid, MaxNameLen)
	case r.State != RecordRecording && r.State != RecordProcessing && r.State != RecordFinished && r.State != RecordFailed:
		return fmt.Errorf("%w: record state %q", ErrInvalid, r.State)
	case len(r.Error) > MaxErrorLen, len(r.Composed) > 1024:
		return fmt.Errorf("%w: record error or key too long", ErrInvalid)
	case r.DurationMs < 0 || r.ComposedBytes < 0:
		return fmt.Errorf("%w: negative record duration or size", ErrInvalid)
	case len(r.Files) > MaxRecordFiles:
		return fmt.Errorf("%w: %d record files, at most %d", ErrInvalid, len(r.Files), MaxRecordFiles)
	}
	for _, f := range r.Files {
		if f.Key == "" || len(f.Key) > 1024 || f.Bytes < 0 {
			return fmt.Errorf("%w: record file %q", ErrInvalid, f.Key)
		}
	}
	return nil
}

// RoomState is the number of participants of a room on the edge and,
// when Sessions is not nil, who they are (call analytics: each
// participant's join and leave times). Sessions, like the count, is the
// absolute state, not a change.
type RoomState struct {
	Room         string    `json:"room"`
	Participants int       `json:"participants"`
	Sessions     []Session `json:"sessions,omitempty"`
}

// Session is one participant on the edge.
type Session struct {
	// SID is the edge's participant sid (one per connection).
	SID      string `json:"sid"`
	Identity string `json:"identity"`
	Name     string `json:"name,omitempty"`
}

// Decode parses and checks a batch (untrusted input: strict JSON, no
// unknown fields, bounded sizes).
func Decode(b []byte) (Batch, error) {
	var out Batch
	if len(b) > MaxBodyBytes {
		return out, fmt.Errorf("%w: batch of %d bytes", ErrInvalid, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return Batch{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Batch{}, fmt.Errorf("%w: data after the batch", ErrInvalid)
	}
	if err := out.Validate(); err != nil {
		return Batch{}, err
	}
	return out, nil
}

// Validate checks a batch's fields.
func (b Batch) Validate() error {
	if b.Edge == "" || len(b.Edge) > MaxNameLen {
		return fmt.Errorf("%w: edge must be 1 to %d bytes", ErrInvalid, MaxNameLen)
	}
	if len(b.Boot) > MaxNameLen {
		return fmt.Errorf("%w: boot over %d bytes", ErrInvalid, MaxNameLen)
	}
	if len(b.Rooms) > MaxRooms {
		return fmt.Errorf("%w: %d rooms, at most %d", ErrInvalid, len(b.Rooms), MaxRooms)
	}
	if len(b.Records) > MaxRecords {
		return fmt.Errorf("%w: %d records, at most %d", ErrInvalid, len(b.Records), MaxRecords)
	}
	for i, r := range b.Records {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("records[%d]: %w", i, err)
		}
	}
	for i, r := range b.Rooms {
		if r.Room == "" || len(r.Room) > MaxNameLen {
			return fmt.Errorf("%w: rooms[%d].room must be 1 to %d bytes", ErrInvalid, i, MaxNameLen)
		}
		if r.Participants < 0 || r.Participants > MaxParticipants {
			return fmt.Errorf("%w: rooms[%d].participants out of range", ErrInvalid, i)
		}
		if len(r.Sessions) > MaxSessions || (r.Sessions != nil && len(r.Sessions) != r.Participants) {
			return fmt.Errorf("%w: rooms[%d].sessions: at most %d, as many as participants", ErrInvalid, i, MaxSessions)
		}
		for j, s := range r.Sessions {
			if s.SID == "" || len(s.SID) > MaxNameLen || len(s.Identity) > MaxNameLen || len(s.Name) > MaxNameLen {
				return fmt.Errorf("%w: rooms[%d].sessions[%d]: sid 1 to %d bytes, identity and name at most %d", ErrInvalid, i, j, MaxNameLen, MaxNameLen)
			}
		}
	}
	return nil
}

type claims struct {
	jwt.RegisteredClaims
	// BodySHA256 is the hex SHA-256 of the request body: a token covers
	// one batch, so a captured token cannot carry another.
	BodySHA256 string `json:"sha256"`
}

// Sign makes the bearer token for body, sent by edge, with the cluster's
// LiveKit API key (key, secret): HS256, the key as "kid", Audience, a
// TokenTTL expiry and the body's SHA-256.
func Sign(key, secret, edge string, body []byte, now time.Time) (string, error) {
	if key == "" || secret == "" {
		return "", fmt.Errorf("%w: no signing key", ErrInvalid)
	}
	sum := sha256.Sum256(body)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    edge,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(TokenTTL)),
		},
		BodySHA256: hex.EncodeToString(sum[:]),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	t.Header["kid"] = key
	s, err := t.SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("occupancy: sign: %w", err)
	}
	return s, nil
}

// Verify checks a bearer token against the cluster's API keys (key →
// secret; any of them, for rotation) and the body it came with, and
// returns the edge that signed it. Every failure is ErrUnauthorized.
func Verify(keys map[string]string, token string, body []byte, now time.Time) (string, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		secret, ok := keys[kid]
		if kid == "" || !ok || secret == "" {
			return nil, errors.New("unknown key")
		}
		return []byte(secret), nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if c.ExpiresAt.Sub(c.IssuedAt.Time) > TokenTTL {
		return "", fmt.Errorf("%w: token lives longer than %s", ErrUnauthorized, TokenTTL)
	}
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(c.BodySHA256), []byte(want)) != 1 {
		return "", fmt.Errorf("%w: token does not cover this body", ErrUnauthorized)
	}
	if c.Issuer == "" {
		return "", fmt.Errorf("%w: no issuer", ErrUnauthorized)
	}
	return c.Issuer, nil
}
