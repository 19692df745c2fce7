package grant

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protojson"
)

// The LiveKit access token, written here rather than with
// github.com/livekit/protocol/auth: that package imports pion/webrtc (for
// codec names), which would put the SFU's WebRTC stack into every control
// plane build. The format is LiveKit's: an HS256 JWT issued by the API key,
// whose subject is the identity, with the grant claims below under
// LiveKit's JSON names. Edges verify it with livekit/protocol/auth;
// TestTokensMatchLiveKit checks that both write the same claims.

// ErrNoKey is returned when a token is asked for without an API key and
// secret.
var ErrNoKey = errors.New("grant: no API key or secret")

// defaultTokenTTL is the validity of a token minted with no TTL (LiveKit's
// own default).
const defaultTokenTTL = 6 * time.Hour

// VideoGrant is LiveKit's "video" claim: what the bearer may do in a room.
// It holds the fields the control plane grants; the edge reads them.
type VideoGrant struct {
	RoomAdmin bool `json:"roomAdmin,omitempty"`
	RoomJoin  bool `json:"roomJoin,omitempty"`
	// RoomRecord lets the bearer record the room (the edge's Egress
	// service).
	RoomRecord bool   `json:"roomRecord,omitempty"`
	Room       string `json:"room,omitempty"`
	// A nil pointer leaves the edge's default (allowed); the control plane
	// always says.
	CanPublish           *bool    `json:"canPublish,omitempty"`
	CanSubscribe         *bool    `json:"canSubscribe,omitempty"`
	CanPublishData       *bool    `json:"canPublishData,omitempty"`
	CanPublishSources    []string `json:"canPublishSources,omitempty"`
	CanUpdateOwnMetadata *bool    `json:"canUpdateOwnMetadata,omitempty"`
	Hidden               bool     `json:"hidden,omitempty"`
}

// claims are a LiveKit access token's claims.
type claims struct {
	jwt.RegisteredClaims
	Identity   string            `json:"identity,omitempty"`
	Name       string            `json:"name,omitempty"`
	Video      *VideoGrant       `json:"video,omitempty"`
	RoomConfig *roomConfig       `json:"roomConfig,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// RequestID is the id of the join that minted a media token
	// (requestid.Claim), which LiveKit's parsers ignore and the edge logs.
	RequestID string `json:"rid,omitempty"`
}

// roomConfig is the token's roomConfig claim, LiveKit's RoomConfiguration
// message in its protobuf JSON form.
type roomConfig livekit.RoomConfiguration

func (c *roomConfig) MarshalJSON() ([]byte, error) {
	return protojson.MarshalOptions{AllowPartial: true}.Marshal((*livekit.RoomConfiguration)(c))
}

// sign mints the token of c with the API key and secret, valid for ttl
// (defaultTokenTTL when not positive) from now.
func sign(key, secret string, c claims, ttl time.Duration, now time.Time) (string, error) {
	if key == "" || secret == "" {
		return "", ErrNoKey
	}
	if ttl <= 0 {
		ttl = defaultTokenTTL
	}
	c.Issuer = key
	c.Subject = c.Identity
	c.IssuedAt = jwt.NewNumericDate(now)
	c.NotBefore = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		return "", fmt.Errorf("grant: sign: %w", err)
	}
	return s, nil
}

// RecordToken mints the short-lived token with which the control plane
// calls an edge's Egress service for room (roomRecord on that room only).
func RecordToken(key, secret, identity, room string, ttl time.Duration) (string, error) {
	return sign(key, secret, claims{Identity: identity, Video: &VideoGrant{RoomRecord: true, Room: room}}, ttl, time.Now())
}

// AdminToken mints the short-lived token with which the control plane
// calls an edge's RoomService for room (roomAdmin on that room only).
func AdminToken(key, secret, identity, room string, ttl time.Duration) (string, error) {
	return sign(key, secret, claims{Identity: identity, Video: &VideoGrant{RoomAdmin: true, Room: room}}, ttl, time.Now())
}
