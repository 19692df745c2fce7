package token

import (
	"errors"
	"fmt"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
)

// Sentinel errors. Unauthenticated ones map to HTTP 401, the rest to 403.
var (
	ErrMissing    = errors.New("token: missing access token")
	ErrMalformed  = errors.New("token: malformed access token")
	ErrUnknownKey = errors.New("token: unknown API key")
	ErrInvalid    = errors.New("token: invalid signature or expired")
	ErrForbidden  = errors.New("token: permission denied")
)

// Verifier checks tokens against a set of API keys.
type Verifier struct {
	keys map[string]string
}

// NewVerifier copies keys (API key → secret).
func NewVerifier(keys map[string]string) *Verifier {
	k := make(map[string]string, len(keys))
	for a, s := range keys {
		k[a] = s
	}
	return &Verifier{keys: k}
}

// Verify checks the signature, issuer and expiry of raw and returns its grants.
func (v *Verifier) Verify(raw string) (*auth.ClaimGrants, error) {
	g, _, err := v.VerifyIssued(raw)
	return g, err
}

// VerifyIssued is Verify that also returns when the token was issued (zero
// when it does not say).
func (v *Verifier) VerifyIssued(raw string) (*auth.ClaimGrants, time.Time, error) {
	if raw == "" {
		return nil, time.Time{}, ErrMissing
	}
	p, err := auth.ParseAPIToken(raw)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	secret, ok := v.keys[p.APIKey()]
	if !ok {
		return nil, time.Time{}, fmt.Errorf("%w: %q", ErrUnknownKey, p.APIKey())
	}
	claims, grants, err := p.Verify(secret)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var iat time.Time
	if claims.IssuedAt != nil {
		iat = claims.IssuedAt.Time
	}
	return grants, iat, nil
}

// Unauthenticated reports whether err means "who are you?" (401) rather
// than "you may not" (403).
func Unauthenticated(err error) bool {
	return errors.Is(err, ErrMissing) || errors.Is(err, ErrMalformed) ||
		errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrInvalid)
}

// Join checks that grants allow joining a room and returns its name.
func Join(g *auth.ClaimGrants) (string, error) {
	if g == nil || g.Video == nil || !g.Video.RoomJoin {
		return "", fmt.Errorf("%w: the token has no roomJoin grant", ErrForbidden)
	}
	if g.Video.Room == "" {
		return "", fmt.Errorf("%w: the token names no room", ErrForbidden)
	}
	if g.Identity == "" {
		return "", fmt.Errorf("%w: the token has no identity", ErrForbidden)
	}
	return g.Video.Room, nil
}

// Admin checks that grants allow administering room ("" = any room: only a
// token without a room restriction passes).
func Admin(g *auth.ClaimGrants, room string) error {
	if g == nil || g.Video == nil || !g.Video.RoomAdmin {
		return fmt.Errorf("%w: roomAdmin grant required", ErrForbidden)
	}
	if g.Video.Room != "" && g.Video.Room != room {
		return fmt.Errorf("%w: the token is for another room", ErrForbidden)
	}
	return nil
}

// Record checks that grants allow recording room (LiveKit's roomRecord
// grant, the one its Egress service asks for; "" = any room: only a token
// without a room restriction passes).
func Record(g *auth.ClaimGrants, room string) error {
	if g == nil || g.Video == nil || !g.Video.RoomRecord {
		return fmt.Errorf("%w: roomRecord grant required", ErrForbidden)
	}
	if g.Video.Room != "" && g.Video.Room != room {
		return fmt.Errorf("%w: the token is for another room", ErrForbidden)
	}
	return nil
}

// List checks that grants allow listing rooms.
func List(g *auth.ClaimGrants) error {
	if g == nil || g.Video == nil || !g.Video.RoomList {
		return fmt.Errorf("%w: roomList grant required", ErrForbidden)
	}
	return nil
}

// Create checks that grants allow creating and deleting rooms.
func Create(g *auth.ClaimGrants) error {
	if g == nil || g.Video == nil || !g.Video.RoomCreate {
		return fmt.Errorf("%w: roomCreate grant required", ErrForbidden)
	}
	return nil
}

// AnyService reports whether grants allow at least one RoomService call
// (roomAdmin, roomList or roomCreate): a token without any of them is
// refused before its request body is read.
func AnyService(g *auth.ClaimGrants) bool {
	return g != nil && g.Video != nil && (g.Video.RoomAdmin || g.Video.RoomList || g.Video.RoomCreate)
}

// Permission converts grants to the participant permission LiveKit clients see.
func Permission(g *auth.ClaimGrants) *livekit.ParticipantPermission {
	if g == nil || g.Video == nil {
		return &livekit.ParticipantPermission{}
	}
	p := g.Video.ToPermission()
	return p
}

// CanPublishSource reports whether a permission allows publishing source.
func CanPublishSource(p *livekit.ParticipantPermission, source livekit.TrackSource) bool {
	if p == nil || !p.CanPublish {
		return false
	}
	if len(p.CanPublishSources) == 0 {
		return true
	}
	for _, s := range p.CanPublishSources {
		if s == source {
			return true
		}
	}
	return false
}
