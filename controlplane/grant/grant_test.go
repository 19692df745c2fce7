package grant

import (
	"reflect"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/requestid"
)

func TestFor(t *testing.T) {
	all := store.RoomFlags{IsChatAllowed: true, IsScreensharingAllowed: true, IsCameraPublishingAllowed: true,
		IsMicrophonePublishingAllowed: true, IsScreenMediaPublishingAllowed: true, IsHandRaisingAllowed: true}
	none := store.RoomFlags{}
	everything := []string{SourceCamera, SourceMicrophone, SourceScreenShare, SourceScreenShareAudio}
	tests := []struct {
		name  string
		role  Role
		typ   store.RoomType
		flags store.RoomFlags
		want  Grants
	}{
		{"lesson owner", RoleOwner, store.RoomTypeLesson, none,
			Grants{true, everything, true, true, true, true, true, false, false}},
		{"webinar moderator", RoleModerator, store.RoomTypeWebinar, none,
			Grants{true, everything, true, true, true, true, true, false, false}},
		{"lesson participant, all flags", RoleParticipant, store.RoomTypeLesson, all,
			Grants{true, everything, true, true, true, false, false, false, false}},
		{"lesson participant, no flags", RoleParticipant, store.RoomTypeLesson, none,
			Grants{false, []string{}, true, false, false, false, false, false, false}},
		{"webinar participant becomes viewer", RoleParticipant, store.RoomTypeWebinar, all,
			Grants{false, []string{}, true, true, true, false, false, false, false}},
		{"viewer", RoleViewer, store.RoomTypeLesson, all,
			Grants{false, []string{}, true, true, true, false, false, false, false}},
		{"camera only", RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsCameraPublishingAllowed: true},
			Grants{true, []string{SourceCamera}, true, false, false, false, false, false, false}},
		{"microphone only", RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsMicrophonePublishingAllowed: true},
			Grants{true, []string{SourceMicrophone}, true, false, false, false, false, false, false}},
		{"screen without its audio", RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsScreensharingAllowed: true},
			Grants{true, []string{SourceScreenShare}, true, false, false, false, false, false, false}},
		{"screen audio needs screen share", RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsScreenMediaPublishingAllowed: true},
			Grants{false, []string{}, true, false, false, false, false, false, false}},
		{"chat only", RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsChatAllowed: true},
			Grants{false, []string{}, true, true, false, false, false, false, false}},
		{"self renaming", RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsSelfRenamingAllowed: true},
			Grants{false, []string{}, true, false, true, true, false, false, false}},
		{"owner of a room that records", RoleOwner, store.RoomTypeLesson, store.RoomFlags{IsRecordAllowed: true},
			Grants{true, everything, true, true, true, true, true, false, true}},
		{"participant of a room that records", RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsRecordAllowed: true},
			Grants{false, []string{}, true, false, false, false, false, false, false}},
		{"unknown role gets the least", Role("x"), store.RoomTypeLesson, all,
			Grants{false, []string{}, true, true, true, false, false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := For(tt.role, tt.typ, tt.flags); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("For = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestMediaToken(t *testing.T) {
	const key, secret = "APIkey", "0123456789abcdef0123456789abcdef"
	g := For(RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsCameraPublishingAllowed: true})
	tok, err := MediaToken(Media{APIKey: key, APISecret: secret, Identity: "u-1", Name: "Ann", Room: "room1",
		Role: RoleParticipant, Grants: g, TTL: 10 * time.Minute, RequestID: "req-42"})
	if err != nil {
		t.Fatal(err)
	}
	// The join's request id rides along for the edge's log.
	if id := requestid.FromToken(tok); id != "req-42" {
		t.Errorf("request id in the token: %q, want req-42", id)
	}
	v, err := lkauth.ParseAPIToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	_, claims, err := v.Verify(secret)
	if err != nil {
		t.Fatal(err)
	}
	vg := claims.Video
	if claims.Identity != "u-1" || claims.Name != "Ann" || !vg.RoomJoin || vg.Room != "room1" {
		t.Fatalf("claims %+v", claims)
	}
	if !vg.GetCanPublish() || vg.GetCanPublishData() || !vg.GetCanSubscribe() || vg.RoomAdmin {
		t.Fatalf("video grant %+v", vg)
	}
	if !reflect.DeepEqual(vg.CanPublishSources, []string{SourceCamera}) {
		t.Fatalf("sources %v", vg.CanPublishSources)
	}
	if claims.Attributes[RoleAttribute] != "participant" || claims.Attributes[RenameAttribute] != "" {
		t.Fatalf("attributes %v", claims.Attributes)
	}
	// A room that lets participants rename themselves says so in the
	// token, where the edge looks for it (edge/room.RenameAttribute).
	g = For(RoleParticipant, store.RoomTypeLesson, store.RoomFlags{IsSelfRenamingAllowed: true})
	tok, err = MediaToken(Media{APIKey: key, APISecret: secret, Identity: "u-1", Room: "room1", Role: RoleParticipant, Grants: g, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if v, err = lkauth.ParseAPIToken(tok); err != nil {
		t.Fatal(err)
	}
	if _, claims, err = v.Verify(secret); err != nil || claims.Attributes[RenameAttribute] != "true" {
		t.Fatalf("rename attribute missing: %v %v", err, claims.Attributes)
	}
	if _, _, err := v.Verify("wrong-secret-wrong-secret-wrong-secret"); err == nil {
		t.Fatal("verified with the wrong secret")
	}
	if id := requestid.FromToken(tok); id != "" {
		t.Errorf("a token minted without a request id carries %q", id)
	}
	// The validity is the TTL asked for.
	c, _, err := v.Verify(secret)
	if err != nil || c.ExpiresAt == nil || c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != time.Minute {
		t.Errorf("validity: %+v, %v; want one minute", c, err)
	}
	if claims.RoomConfig != nil || claims.Video.RoomRecord {
		t.Fatalf("a room that does not record: roomConfig %v, roomRecord %v", claims.RoomConfig, claims.Video.RoomRecord)
	}
	// A moderator of a room that records may record (roomRecord); a room
	// that records automatically asks the edge for a room composite
	// egress in the token's room configuration.
	g = For(RoleModerator, store.RoomTypeLesson, store.RoomFlags{IsRecordAllowed: true, IsAutoRecordingAllowed: true})
	if tok, err = MediaToken(Media{APIKey: key, APISecret: secret, Identity: "m-1", Room: "room1", Role: RoleModerator, Grants: g,
		TTL: time.Minute, AutoRecord: true}); err != nil {
		t.Fatal(err)
	}
	if v, err = lkauth.ParseAPIToken(tok); err != nil {
		t.Fatal(err)
	}
	if _, claims, err = v.Verify(secret); err != nil || !claims.Video.RoomRecord || claims.RoomConfig == nil ||
		claims.RoomConfig.Egress.GetRoom().GetRoomName() != "room1" || claims.RoomConfig.MaxParticipants != 0 {
		t.Fatalf("recording claims: %v %+v", err, claims)
	}
}
