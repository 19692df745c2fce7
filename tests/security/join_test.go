package security

import (
	"fmt"
	"net/http"
	"testing"

	lkauth "github.com/livekit/protocol/auth"

	"github.com/spacecast/spacecast/controlplane"
)

// joinFrom joins rm with body, from address addr (a trusted proxy's
// X-Forwarded-For).
func (s *server) joinFrom(t testing.TB, rm room, addr string, body map[string]any) reply {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return s.send(t, req{method: "POST", path: "/v1/rooms/" + rm.alias + "/join", body: body, header: map[string]string{"X-Forwarded-For": addr}})
}

// TestJoinIsRateLimitedPerSource: whatever the credential, one source
// address cannot call the join (which mints media tokens and TURN
// credentials, and places participants) without bound; another address is
// not affected.
func TestJoinIsRateLimitedPerSource(t *testing.T) {
	s := start(t, opts{mutate: func(c *controlplane.Config) {
		c.TrustedProxies = []string{"127.0.0.0/8"}
		c.RateLimit.JoinPerAddress = controlplane.Bucket{Rate: 0.001, Burst: 3}
	}})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	rm := s.room(t, owner, s.space(t, owner, false), nil)
	for range 3 {
		tok, _ := s.link(t, owner, rm, nil)
		s.joinFrom(t, rm, "198.51.100.1", map[string]any{"accessToken": tok}).answer(t)
	}
	tok, _ := s.link(t, owner, rm, nil)
	r := s.joinFrom(t, rm, "198.51.100.1", map[string]any{"accessToken": tok})
	if r.status != http.StatusTooManyRequests || r.str(t, "code") != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("fourth join from one address = %d %s, want 429 rate_limited with Retry-After", r.status, r.body)
	}
	// The refused join did not spend the link: from another address it
	// works.
	s.joinFrom(t, rm, "198.51.100.2", map[string]any{"accessToken": tok}).answer(t)
}

// TestGuestJoinsRateLimitedPerSource: joins into a public room without any
// credential have their own, tighter bucket per source, so one address
// cannot fill a public room with guests; invited participants from the
// same address still join.
func TestGuestJoinsRateLimitedPerSource(t *testing.T) {
	s := start(t, opts{mutate: func(c *controlplane.Config) {
		c.TrustedProxies = []string{"127.0.0.0/8"}
		c.RateLimit.GuestJoinPerAddress = controlplane.Bucket{Rate: 0.001, Burst: 2}
	}})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	rm := s.room(t, owner, s.space(t, owner, true), map[string]any{"isPublic": true})
	for range 2 {
		s.joinFrom(t, rm, "2001:db8:5::1", nil).answer(t)
	}
	r := s.joinFrom(t, rm, fmt.Sprintf("2001:db8:5::%x", 99), nil) // same /64
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("third guest join from one source = %d %s, want 429", r.status, r.body)
	}
	tok, _ := s.link(t, owner, rm, nil)
	s.joinFrom(t, rm, "2001:db8:5::1", map[string]any{"accessToken": tok}).answer(t)
	s.joinFrom(t, rm, "2001:db8:6::1", nil).answer(t)
}

// TestMediaTokenCarriesMaxParticipants: the room's maxParticipants travels
// to the edge in the media token's roomConfig (LiveKit's carrier of room
// settings), which the edge enforces.
func TestMediaTokenCarriesMaxParticipants(t *testing.T) {
	s := start(t, opts{})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	space := s.space(t, owner, false)
	key, secret := s.cluster.SigningSecret()
	maxOf := func(rm room) uint32 {
		a := s.join(t, rm, owner.userToken, nil).answer(t)
		v, err := lkauth.ParseAPIToken(a.MediaToken)
		if err != nil || v.APIKey() != key {
			t.Fatalf("media token: %v", err)
		}
		_, claims, err := v.Verify(secret)
		if err != nil {
			t.Fatal(err)
		}
		return claims.GetRoomConfiguration().GetMaxParticipants()
	}
	capped := s.room(t, owner, space, map[string]any{"maxParticipants": 5})
	if got := maxOf(capped); got != 5 {
		t.Fatalf("roomConfig.maxParticipants = %d, want 5", got)
	}
	s.must(t, 200, "PUT", "/v1/spaces/"+space+"/rooms/"+capped.id, owner.userToken, map[string]any{"maxParticipants": 2})
	if got := maxOf(capped); got != 2 {
		t.Fatalf("after the update: roomConfig.maxParticipants = %d, want 2", got)
	}
	if got := maxOf(s.room(t, owner, space, nil)); got != 0 {
		t.Fatalf("a room without a cap: roomConfig.maxParticipants = %d, want none", got)
	}
}
