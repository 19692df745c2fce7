package grant

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"

	"github.com/spacecast/spacecast/controlplane/store"
)

// payload decodes a JWT's claims; the times go apart, since each minter
// reads its own clock: validity is what is compared.
func payload(t *testing.T, tok string) (map[string]any, time.Duration) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	exp, nbf, iat := m["exp"].(float64), m["nbf"].(float64), m["iat"].(float64)
	if nbf != iat {
		t.Fatalf("nbf %v, iat %v", nbf, iat)
	}
	delete(m, "exp")
	delete(m, "nbf")
	delete(m, "iat")
	return m, time.Duration(exp-nbf) * time.Second
}

// liveKitMediaToken is how livekit/protocol/auth writes m's token: the
// reference the control plane's own minter must match.
func liveKitMediaToken(m Media) (string, error) {
	v := &lkauth.VideoGrant{RoomJoin: true, Room: m.Room, RoomAdmin: m.Grants.RoomAdmin, Hidden: m.Grants.Hidden}
	v.SetCanPublish(m.Grants.CanPublish)
	v.SetCanSubscribe(m.Grants.CanSubscribe)
	v.SetCanPublishData(m.Grants.CanPublishData)
	v.SetCanUpdateOwnMetadata(m.Grants.CanUpdateOwnMetadata)
	v.CanPublishSources = append([]string{}, m.Grants.CanPublishSources...)
	tok := lkauth.NewAccessToken(m.APIKey, m.APISecret).SetIdentity(m.Identity).SetName(m.Name).
		SetValidFor(m.TTL).SetVideoGrant(v).SetAttributes(m.attributes())
	if m.MaxParticipants > 0 {
		tok.SetRoomConfig(&livekit.RoomConfiguration{MaxParticipants: uint32(m.MaxParticipants)})
	}
	return tok.ToJWT()
}

// The control plane mints LiveKit tokens without livekit/protocol/auth;
// the claims must be exactly the ones that package writes, which the
// edges read.
func TestTokensMatchLiveKit(t *testing.T) {
	const key, secret = "APIkey", "0123456789abcdef0123456789abcdef"
	all := store.RoomFlags{IsChatAllowed: true, IsScreensharingAllowed: true, IsCameraPublishingAllowed: true,
		IsMicrophonePublishingAllowed: true, IsScreenMediaPublishingAllowed: true, IsSelfRenamingAllowed: true}
	tests := []struct {
		name string
		m    Media
	}{
		{"participant", Media{Identity: "u-1", Name: "Ann", Room: "room1", Role: RoleParticipant,
			Grants: For(RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsCameraPublishingAllowed: true}), TTL: 10 * time.Minute}},
		{"owner, every flag, a cap", Media{Identity: "u-2", Name: "Bob", Room: "room2", Role: RoleOwner,
			Grants: For(RoleOwner, store.RoomTypeLesson, all), TTL: time.Hour, MaxParticipants: 25}},
		{"webinar viewer, no name", Media{Identity: "g_1", Room: "room3", Role: RoleViewer,
			Grants: For(RoleParticipant, store.RoomTypeWebinar, all), TTL: time.Minute}},
		{"nothing granted, default TTL", Media{Identity: "u-3", Room: "room4", Role: RoleViewer}},
		{"hidden", Media{Identity: "u-4", Room: "room5", Role: RoleModerator,
			Grants: Grants{Hidden: true, CanSubscribe: true, CanPublishSources: []string{}}, TTL: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.APIKey, tt.m.APISecret = key, secret
			ours, err := MediaToken(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := liveKitMediaToken(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			got, gotTTL := payload(t, ours)
			want, wantTTL := payload(t, ref)
			if !reflect.DeepEqual(got, want) || gotTTL != wantTTL {
				t.Fatalf("claims\n%v (valid %v)\nLiveKit writes\n%v (valid %v)", got, gotTTL, want, wantTTL)
			}
			v, err := lkauth.ParseAPIToken(ours)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := v.Verify(secret); err != nil {
				t.Fatalf("LiveKit does not verify it: %v", err)
			}
		})
	}

	ours, err := AdminToken(key, secret, "spacecast-controlplane", "room1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := lkauth.NewAccessToken(key, secret).SetIdentity("spacecast-controlplane").
		SetVideoGrant(&lkauth.VideoGrant{RoomAdmin: true, Room: "room1"}).SetValidFor(time.Minute).ToJWT()
	if err != nil {
		t.Fatal(err)
	}
	got, gotTTL := payload(t, ours)
	want, wantTTL := payload(t, ref)
	if !reflect.DeepEqual(got, want) || gotTTL != wantTTL {
		t.Fatalf("admin claims\n%v (valid %v)\nLiveKit writes\n%v (valid %v)", got, gotTTL, want, wantTTL)
	}
}

func TestTokenNeedsKey(t *testing.T) {
	if _, err := MediaToken(Media{APIKey: "k", Identity: "u"}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no secret: %v", err)
	}
	if _, err := AdminToken("", "s", "cp", "r", time.Minute); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v", err)
	}
}

// BenchmarkMediaToken mints a participant's media token with the control
// plane's own minter and, side by side, with livekit/protocol/auth.
func BenchmarkMediaToken(b *testing.B) {
	m := Media{APIKey: "APIkey", APISecret: "0123456789abcdef0123456789abcdef", Identity: "u-1", Name: "Ann", Room: "room1",
		Role: RoleParticipant, Grants: For(RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsCameraPublishingAllowed: true}),
		TTL: 10 * time.Minute, MaxParticipants: 25}
	for _, bc := range []struct {
		name string
		mint func(Media) (string, error)
	}{{"grant", MediaToken}, {"livekit", liveKitMediaToken}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.mint(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
