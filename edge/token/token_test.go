package token

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
)

func mint(t *testing.T, key, secret string, g *auth.VideoGrant) string {
	t.Helper()
	s, err := auth.NewAccessToken(key, secret).SetIdentity("alice").SetValidFor(time.Minute).SetVideoGrant(g).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyRotation(t *testing.T) {
	old, cur := strings.Repeat("o", 32), strings.Repeat("c", 32)
	v := NewVerifier(map[string]string{"old": old, "cur": cur})
	for _, k := range []struct{ key, secret string }{{"old", old}, {"cur", cur}} {
		g, err := v.Verify(mint(t, k.key, k.secret, &auth.VideoGrant{RoomJoin: true, Room: "r"}))
		if err != nil {
			t.Fatalf("key %s: %v", k.key, err)
		}
		if room, err := Join(g); err != nil || room != "r" {
			t.Fatalf("Join() = %q, %v", room, err)
		}
	}
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"missing", "", ErrMissing},
		{"malformed", "x.y.z", ErrMalformed},
		{"unknown key", mint(t, "gone", old, &auth.VideoGrant{}), ErrUnknownKey},
		{"wrong secret", mint(t, "cur", old, &auth.VideoGrant{}), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := v.Verify(tt.raw); !errors.Is(err, tt.want) || !Unauthenticated(err) {
				t.Fatalf("Verify() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestGrants(t *testing.T) {
	no := false
	tests := []struct {
		name string
		g    *auth.ClaimGrants
		ok   func(*auth.ClaimGrants) error
		want bool
	}{
		{"join", &auth.ClaimGrants{Identity: "a", Video: &auth.VideoGrant{RoomJoin: true, Room: "r"}}, func(g *auth.ClaimGrants) error { _, err := Join(g); return err }, true},
		{"join without identity", &auth.ClaimGrants{Video: &auth.VideoGrant{RoomJoin: true, Room: "r"}}, func(g *auth.ClaimGrants) error { _, err := Join(g); return err }, false},
		{"join without video grant", &auth.ClaimGrants{Identity: "a"}, func(g *auth.ClaimGrants) error { _, err := Join(g); return err }, false},
		{"admin of room", &auth.ClaimGrants{Video: &auth.VideoGrant{RoomAdmin: true, Room: "r"}}, func(g *auth.ClaimGrants) error { return Admin(g, "r") }, true},
		{"admin of other room", &auth.ClaimGrants{Video: &auth.VideoGrant{RoomAdmin: true, Room: "x"}}, func(g *auth.ClaimGrants) error { return Admin(g, "r") }, false},
		{"not admin", &auth.ClaimGrants{Video: &auth.VideoGrant{RoomJoin: true, Room: "r"}}, func(g *auth.ClaimGrants) error { return Admin(g, "r") }, false},
		{"record room", &auth.ClaimGrants{Video: &auth.VideoGrant{RoomRecord: true, Room: "r"}}, func(g *auth.ClaimGrants) error { return Record(g, "r") }, true},
		{"record other room", &auth.ClaimGrants{Video: &auth.VideoGrant{RoomRecord: true, Room: "x"}}, func(g *auth.ClaimGrants) error { return Record(g, "r") }, false},
		{"admin does not record", &auth.ClaimGrants{Video: &auth.VideoGrant{RoomAdmin: true, Room: "r"}}, func(g *auth.ClaimGrants) error { return Record(g, "r") }, false},
		{"list", &auth.ClaimGrants{Video: &auth.VideoGrant{RoomList: true}}, List, true},
		{"no list", &auth.ClaimGrants{Video: &auth.VideoGrant{}}, List, false},
		{"create", &auth.ClaimGrants{Video: &auth.VideoGrant{RoomCreate: true}}, Create, true},
		{"publish denied", &auth.ClaimGrants{Video: &auth.VideoGrant{CanPublish: &no}}, func(g *auth.ClaimGrants) error {
			if CanPublishSource(Permission(g), livekit.TrackSource_CAMERA) {
				return nil
			}
			return ErrForbidden
		}, false},
		{"source not listed", &auth.ClaimGrants{Video: &auth.VideoGrant{CanPublishSources: []string{"microphone"}}}, func(g *auth.ClaimGrants) error {
			if CanPublishSource(Permission(g), livekit.TrackSource_SCREEN_SHARE) {
				return nil
			}
			return ErrForbidden
		}, false},
		{"source listed", &auth.ClaimGrants{Video: &auth.VideoGrant{CanPublishSources: []string{"microphone"}}}, func(g *auth.ClaimGrants) error {
			if CanPublishSource(Permission(g), livekit.TrackSource_MICROPHONE) {
				return nil
			}
			return ErrForbidden
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ok(tt.g)
			if (err == nil) != tt.want {
				t.Fatalf("err = %v, want ok=%v", err, tt.want)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Fatalf("err = %v, want ErrForbidden", err)
			}
		})
	}
}
