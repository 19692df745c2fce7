package space_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/servicetest"
	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type world struct {
	*servicetest.World
	acc    *access.Service
	spaces *space.Service

	owner, mod, member access.Caller
	sp                 store.Space
}

func newWorld(t *testing.T) *world {
	w := &world{World: servicetest.New(t)}
	w.acc = w.Access()
	var err error
	if w.spaces, err = space.New(space.Options{Store: w.Store, Tokens: w.Tokens, PublicURL: "https://meet.example.test", Now: w.Clock.Now}); err != nil {
		t.Fatal(err)
	}
	w.owner, w.mod, w.member = w.User("owner"), w.User("mod"), w.User("member")
	w.sp = w.Space(w.owner, false)
	w.AddMember(w.sp, w.mod, store.SpaceRoleModerator)
	w.AddMember(w.sp, w.member, store.SpaceRoleUser)
	return w
}

func (w *world) managed(t *testing.T, c access.Caller) access.ManagedSpace {
	t.Helper()
	m, err := w.acc.ManageSpace(w.Ctx, c, w.sp.ID, "change it")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (w *world) managedRoom(t *testing.T, c access.Caller, r store.Room) access.ManagedRoom {
	t.Helper()
	m, err := w.acc.ManageRoom(w.Ctx, c, servicetest.Ref(r), "change it")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func isDenied(err error) bool {
	var d *access.DeniedError
	return errors.As(err, &d)
}

// TestInvites: the owner invites moderators and users, a moderator users;
// an invite is spent once.
func TestInvites(t *testing.T) {
	w := newWorld(t)
	if _, err := w.spaces.CreateInvite(w.Ctx, w.managed(t, w.mod), store.SpaceRoleModerator, time.Hour); !isDenied(err) {
		t.Fatalf("a moderator invited a moderator: %v", err)
	}
	inv, err := w.spaces.CreateInvite(w.Ctx, w.managed(t, w.mod), store.SpaceRoleUser, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !inv.ExpiresAt.Equal(w.Clock.Now().Add(time.Hour)) || inv.CreatedBy != w.mod.User {
		t.Fatalf("invite %+v", inv)
	}
	if _, err := w.spaces.CreateInvite(w.Ctx, w.managed(t, w.owner), store.SpaceRoleModerator, time.Hour); err != nil {
		t.Fatalf("the owner invites a moderator: %v", err)
	}
	guest := w.User("guest")
	if _, err := w.spaces.ActivateInvite(w.Ctx, guest, w.sp.ID, inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.spaces.ActivateInvite(w.Ctx, w.User("late"), w.sp.ID, inv.ID); !errors.Is(err, store.ErrUsed) {
		t.Fatalf("second activation: %v", err)
	}
	if _, err := w.acc.SeeSpace(w.Ctx, guest, w.sp.ID); err != nil {
		t.Fatalf("the invited user cannot see the space: %v", err)
	}
	if _, err := w.spaces.ActivateInvite(w.Ctx, w.ClientCaller(), w.sp.ID, inv.ID); !errors.Is(err, access.ErrUserToken) {
		t.Fatalf("a client activated an invite: %v", err)
	}
}

// TestAllowedOrigins: only the owner changes them; a moderator may send
// them back unchanged.
func TestAllowedOrigins(t *testing.T) {
	w := newWorld(t)
	o, err := w.acc.OwnSpace(w.Ctx, w.owner, w.sp.ID, "change its allowed origins")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.spaces.SetAllowedOrigins(w.Ctx, o, []string{"https://a.example", "https://b.example"}); err != nil {
		t.Fatal(err)
	}
	m := w.managed(t, w.mod)
	edit := m.Space().Space
	edit.Description = "by the moderator"
	edit.AllowedOrigins = []string{"https://b.example", "https://a.example"} // the same, reordered
	got, err := w.spaces.UpdateSpace(w.Ctx, m, edit)
	if err != nil || got.Description != "by the moderator" {
		t.Fatalf("a moderator's edit: %+v, %v", got, err)
	}
	edit.AllowedOrigins = []string{"https://evil.example"}
	if _, err := w.spaces.UpdateSpace(w.Ctx, w.managed(t, w.mod), edit); !errors.Is(err, space.ErrOriginsOwnerOnly) {
		t.Fatalf("a moderator changed the origins: %v", err)
	}
	if _, err := w.spaces.UpdateSpace(w.Ctx, w.managed(t, w.owner), edit); err != nil {
		t.Fatalf("the owner changes the origins: %v", err)
	}
	// Fields that are not editable stay.
	edit.OwnerID, edit.ClientID = w.mod.User, "x"
	got, err = w.spaces.UpdateSpace(w.Ctx, w.managed(t, w.owner), edit)
	if err != nil || got.OwnerID != w.owner.User || got.ClientID != w.Client {
		t.Fatalf("an update changed the owner: %+v, %v", got, err)
	}
}

// TestRooms: creation (the creator owns it), update of the editable
// fields, deletion by the room's or the space's owner.
func TestRooms(t *testing.T) {
	w := newWorld(t)
	rm := space.NewRoom()
	rm.Name, rm.IsPublic = "standup", true
	rm, err := w.spaces.CreateRoom(w.Ctx, w.managed(t, w.mod), rm)
	if err != nil {
		t.Fatal(err)
	}
	if rm.OwnerID != w.mod.User || len(rm.Alias) != 10 || rm.ChannelID == "" || !rm.Flags.IsChatAllowed {
		t.Fatalf("created %+v", rm)
	}
	m := w.managedRoom(t, w.mod, rm)
	if m.Room().Role != store.RoomRoleOwner {
		t.Fatalf("the creator's role is %q", m.Room().Role)
	}
	edit := m.Room().Room
	edit.Name, edit.Type, edit.Alias, edit.OwnerID = "retro", store.RoomTypeWebinar, "changed", w.member.User
	got, err := w.spaces.UpdateRoom(w.Ctx, m, edit)
	if err != nil || got.Name != "retro" || got.Type != store.RoomTypeWebinar || got.Alias != rm.Alias || got.OwnerID != w.mod.User {
		t.Fatalf("update: %+v, %v", got, err)
	}
	if _, err := w.acc.OwnRoom(w.Ctx, w.member, servicetest.Ref(rm), "delete it"); !isDenied(err) {
		t.Fatalf("a space user may delete the room: %v", err)
	}
	o, err := w.acc.OwnRoom(w.Ctx, w.owner, servicetest.Ref(rm), "delete it")
	if err != nil {
		t.Fatalf("the space's owner may not delete the room: %v", err)
	}
	if err := w.spaces.DeleteRoom(w.Ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := w.acc.SeeRoom(w.Ctx, w.mod, servicetest.Ref(rm)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the deleted room: %v", err)
	}
}

// TestRoomRoles: the owner grants either role, a moderator grants users
// only, and the owner keeps role_room_owner.
func TestRoomRoles(t *testing.T) {
	w := newWorld(t)
	rm := w.Room(w.sp, w.owner, nil)
	roomMod := w.User("roommod")
	if _, err := w.spaces.SetRoomRole(w.Ctx, w.managedRoom(t, w.owner, rm), roomMod.User, store.RoomRoleModerator); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		by   access.Caller
		user store.UserID
		role store.RoomRole
		want error
	}{
		{"moderator grants user", roomMod, w.member.User, store.RoomRoleUser, nil},
		{"moderator grants moderator", roomMod, w.member.User, store.RoomRoleModerator, &access.DeniedError{}},
		{"owner grants moderator", w.owner, w.member.User, store.RoomRoleModerator, nil},
		{"the owner's role", w.owner, w.owner.User, store.RoomRoleUser, space.ErrOwnerKeepsRole},
		{"no such user", w.owner, "0123456789abcdef01234567", store.RoomRoleUser, store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.spaces.SetRoomRole(w.Ctx, w.managedRoom(t, tt.by, rm), tt.user, tt.role)
			switch tt.want.(type) {
			case nil:
				if err != nil {
					t.Fatal(err)
				}
			case *access.DeniedError:
				if !isDenied(err) {
					t.Fatalf("got %v, want a refusal", err)
				}
			default:
				if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
			}
		})
	}
	roles, total, err := w.spaces.RoomRoles(w.Ctx, w.managedRoom(t, w.owner, rm), store.Page{})
	if err != nil || len(roles) != 3 || total != 3 {
		t.Fatalf("roles %+v (total %d), %v", roles, total, err)
	}
	// Paged: one at a time, oldest first, the total of them all.
	page, total, err := w.spaces.RoomRoles(w.Ctx, w.managedRoom(t, w.owner, rm), store.Page{Offset: 1, Limit: 1})
	if err != nil || len(page) != 1 || total != 3 || page[0] != roles[1] {
		t.Fatalf("page %+v (total %d), %v; want %+v of 3", page, total, err, roles[1])
	}
}

// TestGenerateAccess: the link's URL and token.
func TestGenerateAccess(t *testing.T) {
	w := newWorld(t)
	rm := w.Room(w.sp, w.owner, nil)
	l, err := w.spaces.GenerateAccess(w.Ctx, w.managedRoom(t, w.owner, rm), space.LinkSpec{Username: "Ann Guest", Role: store.LinkRoleModerator, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := "https://meet.example.test/room/" + rm.Alias + "?participantName=" + url.QueryEscape("Ann Guest") + "&accessToken=" + l.Token
	if l.URL != want || !l.ExpiresAt.Equal(w.Clock.Now().Add(time.Hour).Truncate(time.Second)) {
		t.Fatalf("link %+v", l)
	}
	c, err := w.Tokens.Verify(w.Ctx, l.Token, auth.TypeLink, auth.AudLink)
	if err != nil || c.Room != string(rm.ID) {
		t.Fatalf("the link's token: %+v, %v", c, err)
	}
	stored, err := w.Store.GetAccessLink(w.Ctx, w.Client, c.ID)
	if err != nil || stored.Role != store.LinkRoleModerator || stored.CreatedBy != w.owner.User || stored.Username != "Ann Guest" {
		t.Fatalf("stored link %+v, %v", stored, err)
	}
}

// TestEmbedToken: bound by the caller's credential, for the caller.
func TestEmbedToken(t *testing.T) {
	w := newWorld(t)
	rm := w.Room(w.sp, w.owner, nil)
	caller := w.member
	caller.Family = "fam"
	v, err := w.acc.SeeRoom(w.Ctx, caller, servicetest.Ref(rm))
	if err != nil {
		t.Fatal(err)
	}
	l, err := w.spaces.EmbedToken(w.Ctx, v, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(l.URL, "/room/"+rm.Alias+"?embedToken="+l.Token) {
		t.Fatalf("url %s", l.URL)
	}
	c, err := w.Tokens.Verify(w.Ctx, l.Token, auth.TypeEmbed, auth.AudEmbed)
	if err != nil || c.User != string(caller.User) || c.Family != "fam" || c.Bound != caller.Expires.Unix() {
		t.Fatalf("the embed token: %+v, %v", c, err)
	}
}

// TestWebhook: created with a secret, replaced keeping it, edited, its
// secret drawn again.
func TestWebhook(t *testing.T) {
	w := newWorld(t)
	o, err := w.acc.OwnSpace(w.Ctx, w.owner, w.sp.ID, "manage its webhook")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.spaces.Webhook(w.Ctx, o); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no webhook yet: %v", err)
	}
	off := false
	first, created, err := w.spaces.PutWebhook(w.Ctx, o, "https://hooks.example.test/a", &off)
	if err != nil || !created || first.IsActive || !strings.HasPrefix(first.Secret, "whsec_") {
		t.Fatalf("create: %+v %v %v", first, created, err)
	}
	second, created, err := w.spaces.PutWebhook(w.Ctx, o, "https://hooks.example.test/b", nil)
	if err != nil || created || second.Secret != first.Secret || second.URL != "https://hooks.example.test/b" || second.IsActive {
		t.Fatalf("replace: %+v %v %v", second, created, err)
	}
	refused := errors.New("bad url")
	if _, err := w.spaces.UpdateWebhook(w.Ctx, o, func(*string, *bool) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("a refused edit: %v", err)
	}
	edited, err := w.spaces.UpdateWebhook(w.Ctx, o, func(_ *string, active *bool) error { *active = true; return nil })
	if err != nil || !edited.IsActive || edited.URL != second.URL {
		t.Fatalf("edit: %+v, %v", edited, err)
	}
	fresh, err := w.spaces.RefreshWebhookSecret(w.Ctx, o)
	if err != nil || fresh.Secret == first.Secret {
		t.Fatalf("refresh: %+v, %v", fresh, err)
	}
	if err := w.spaces.DeleteWebhook(w.Ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := w.spaces.UpdateWebhook(w.Ctx, o, func(*string, *bool) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("edit of a deleted webhook: %v", err)
	}
}

// TestWebhookDeliveries: the space's delivery log, newest first and
// paged; a redelivery queues the event again under a new delivery that
// keeps the event's id; without an active webhook it is
// ErrWebhookInactive; another space's delivery is not found.
func TestWebhookDeliveries(t *testing.T) {
	w := newWorld(t)
	o, err := w.acc.OwnSpace(w.Ctx, w.owner, w.sp.ID, "manage its webhook")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.spaces.PutWebhook(w.Ctx, o, "https://hooks.example.test/a", nil); err != nil {
		t.Fatal(err)
	}
	rm := w.Room(w.sp, w.owner, nil)
	for i, name := range []string{"call_started", "call_finished"} {
		ev := store.WebhookEvent{ID: store.NewID(), Name: name, ClientID: w.Client, SpaceID: w.sp.ID, RoomID: rm.ID, At: w.Clock.Now()}
		if ok, err := w.Store.EnqueueWebhookEvent(w.Ctx, store.NewID(), ev, w.Clock.Now()); err != nil || !ok {
			t.Fatalf("event %d: %v %v", i, ok, err)
		}
		w.Clock.Advance(time.Second)
	}
	log, total, err := w.spaces.WebhookDeliveries(w.Ctx, o, store.Page{})
	if err != nil || total != 2 || len(log) != 2 || log[0].Event.Name != "call_finished" {
		t.Fatalf("log: %+v (total %d), %v", log, total, err)
	}
	if page, total, err := w.spaces.WebhookDeliveries(w.Ctx, o, store.Page{Offset: 1, Limit: 1}); err != nil || total != 2 || len(page) != 1 || page[0].ID != log[1].ID {
		t.Fatalf("page 2: %+v (total %d), %v", page, total, err)
	}
	again, err := w.spaces.Redeliver(w.Ctx, o, log[1].ID)
	if err != nil || again.ID == log[1].ID || again.Event.ID != log[1].Event.ID || again.RedeliveryOf != log[1].ID || again.Status != store.DeliveryPending {
		t.Fatalf("redeliver: %+v, %v", again, err)
	}
	if _, err := w.spaces.Redeliver(w.Ctx, o, store.NewID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeliver an unknown delivery: %v", err)
	}
	other := w.Space(w.owner, false)
	oo, err := w.acc.OwnSpace(w.Ctx, w.owner, other.ID, "manage its webhook")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.spaces.Redeliver(w.Ctx, oo, log[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("redeliver through another space: %v", err)
	}
	if _, err := w.spaces.UpdateWebhook(w.Ctx, o, func(_ *string, active *bool) error { *active = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := w.spaces.Redeliver(w.Ctx, o, log[0].ID); !errors.Is(err, space.ErrWebhookInactive) {
		t.Fatalf("redeliver without an active webhook: %v", err)
	}
}

// TestSpaces: create, list, delete.
func TestSpaces(t *testing.T) {
	w := newWorld(t)
	sp, err := w.spaces.CreateSpace(w.Ctx, w.member, store.Space{Name: "mine", IsPublic: true})
	if err != nil || sp.OwnerID != w.member.User {
		t.Fatalf("create: %+v, %v", sp, err)
	}
	if _, err := w.spaces.CreateSpace(w.Ctx, w.ClientCaller(), store.Space{Name: "x"}); !errors.Is(err, access.ErrUserToken) {
		t.Fatalf("a client made a space: %v", err)
	}
	list, total, err := w.spaces.ListSpaces(w.Ctx, w.member, store.Page{})
	if err != nil || total != 2 || len(list) != 2 {
		t.Fatalf("list: %d %v", total, err)
	}
	o, err := w.acc.OwnSpace(w.Ctx, w.member, sp.ID, "delete it")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.spaces.DeleteSpace(w.Ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := w.acc.SeeSpace(w.Ctx, w.member, sp.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the deleted space: %v", err)
	}
}
