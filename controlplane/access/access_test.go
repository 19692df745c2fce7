package access_test

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/grant"
	"github.com/spacecast/spacecast/controlplane/servicetest"
	"github.com/spacecast/spacecast/controlplane/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is a private space and a public one, each with a private and a
// public room, and callers in every role.
type world struct {
	*servicetest.World
	acc *access.Service

	spaceOwner, spaceMod, spaceUser, outsider access.Caller
	roomMod, roomUser                         access.Caller
	foreign                                   access.Caller // a user of another client

	privSpace, pubSpace store.Space
	// rooms: in the private space, made by the space's moderator (a
	// private and a public one); in the public space, made by its owner.
	privRoom, pubRoomPrivSpace, pubRoom, privRoomPubSpace store.Room
}

func newWorld(t *testing.T) *world {
	w := &world{World: servicetest.New(t)}
	w.acc = w.Access()
	w.spaceOwner, w.spaceMod, w.spaceUser, w.outsider = w.User("owner"), w.User("mod"), w.User("member"), w.User("outsider")
	w.roomMod, w.roomUser = w.User("roommod"), w.User("roomuser")
	w.foreign = w.UserOf(w.NewClient("other"), "stranger")
	w.privSpace = w.Space(w.spaceOwner, false)
	w.AddMember(w.privSpace, w.spaceMod, store.SpaceRoleModerator)
	w.AddMember(w.privSpace, w.spaceUser, store.SpaceRoleUser)
	w.privRoom = w.Room(w.privSpace, w.spaceMod, func(r *store.Room) { r.IsPublic = false })
	w.pubRoomPrivSpace = w.Room(w.privSpace, w.spaceMod, nil)
	for _, r := range []store.Room{w.privRoom, w.pubRoomPrivSpace} {
		w.Grant(r, w.roomMod, store.RoomRoleModerator)
		w.Grant(r, w.roomUser, store.RoomRoleUser)
	}
	w.pubSpace = w.Space(w.spaceOwner, true)
	w.AddMember(w.pubSpace, w.spaceMod, store.SpaceRoleModerator)
	w.pubRoom = w.Room(w.pubSpace, w.spaceOwner, nil)
	w.privRoomPubSpace = w.Room(w.pubSpace, w.spaceOwner, func(r *store.Room) { r.IsPublic = false })
	return w
}

// outcome of a check: allowed, denied (403), not found (404), or the
// wrong token kind (403 user_token_required).
type outcome int

const (
	allowed outcome = iota
	denied
	notFound
	userToken
)

func (o outcome) String() string {
	return [...]string{"allowed", "denied", "not found", "user token required"}[o]
}

func outcomeOf(t *testing.T, err error) outcome {
	t.Helper()
	var d *access.DeniedError
	switch {
	case err == nil:
		return allowed
	case errors.As(err, &d):
		return denied
	case errors.Is(err, store.ErrNotFound):
		return notFound
	case errors.Is(err, access.ErrUserToken):
		return userToken
	}
	t.Fatalf("unexpected error %v", err)
	return 0
}

// TestSpaceMatrix: who may see, manage and own a space.
func TestSpaceMatrix(t *testing.T) {
	w := newWorld(t)
	see := func(c access.Caller, s store.Space) error {
		_, err := w.acc.SeeSpace(w.Ctx, c, s.ID)
		return err
	}
	manage := func(c access.Caller, s store.Space) error {
		_, err := w.acc.ManageSpace(w.Ctx, c, s.ID, "change it")
		return err
	}
	own := func(c access.Caller, s store.Space) error {
		_, err := w.acc.OwnSpace(w.Ctx, c, s.ID, "delete it")
		return err
	}
	tests := []struct {
		name   string
		check  func(access.Caller, store.Space) error
		caller access.Caller
		space  store.Space
		want   outcome
	}{
		{"owner sees private", see, w.spaceOwner, w.privSpace, allowed},
		{"member sees private", see, w.spaceUser, w.privSpace, allowed},
		{"outsider kept out of private", see, w.outsider, w.privSpace, denied},
		{"room member without a space role kept out", see, w.roomMod, w.privSpace, denied},
		{"outsider sees public", see, w.outsider, w.pubSpace, allowed},
		{"another client's user", see, w.foreign, w.pubSpace, notFound},
		{"owner manages", manage, w.spaceOwner, w.privSpace, allowed},
		{"moderator manages", manage, w.spaceMod, w.privSpace, allowed},
		{"user does not manage", manage, w.spaceUser, w.privSpace, denied},
		{"outsider does not manage public", manage, w.outsider, w.pubSpace, denied},
		{"owner owns", own, w.spaceOwner, w.privSpace, allowed},
		{"moderator does not own", own, w.spaceMod, w.privSpace, denied},
		{"another client's user does not own", own, w.foreign, w.privSpace, notFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcomeOf(t, tt.check(tt.caller, tt.space)); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRoomMatrix: who may see, manage, delete and moderate a room. A
// private room keeps even the space's owner out unless it grants a role.
func TestRoomMatrix(t *testing.T) {
	w := newWorld(t)
	see := func(c access.Caller, r store.Room) error {
		_, err := w.acc.SeeRoom(w.Ctx, c, servicetest.Ref(r))
		return err
	}
	manage := func(c access.Caller, r store.Room) error {
		_, err := w.acc.ManageRoom(w.Ctx, c, servicetest.Ref(r), "change it")
		return err
	}
	own := func(c access.Caller, r store.Room) error {
		_, err := w.acc.OwnRoom(w.Ctx, c, servicetest.Ref(r), "delete it")
		return err
	}
	moderate := func(c access.Caller, r store.Room) error {
		_, err := w.acc.Moderate(w.Ctx, c, servicetest.Ref(r))
		return err
	}
	tests := []struct {
		name   string
		check  func(access.Caller, store.Room) error
		caller access.Caller
		room   store.Room
		want   outcome
	}{
		{"creator sees its private room", see, w.spaceMod, w.privRoom, allowed},
		{"room user sees the private room", see, w.roomUser, w.privRoom, allowed},
		{"space owner kept out of a private room", see, w.spaceOwner, w.privRoom, denied},
		{"space member sees a public room", see, w.spaceUser, w.pubRoomPrivSpace, allowed},
		{"outsider kept out of a public room of a private space", see, w.outsider, w.pubRoomPrivSpace, denied},
		{"outsider sees a public room of a public space", see, w.outsider, w.pubRoom, allowed},
		{"outsider kept out of a private room of a public space", see, w.outsider, w.privRoomPubSpace, denied},
		{"another client's user", see, w.foreign, w.pubRoom, notFound},

		{"room moderator manages", manage, w.roomMod, w.privRoom, allowed},
		{"room owner manages", manage, w.spaceMod, w.privRoom, allowed},
		{"room user does not manage", manage, w.roomUser, w.privRoom, denied},
		{"space owner does not manage a room it has no role in", manage, w.spaceOwner, w.pubRoomPrivSpace, denied},

		{"room owner deletes", own, w.spaceMod, w.privRoom, allowed},
		{"space owner deletes a private room", own, w.spaceOwner, w.privRoom, allowed},
		{"room moderator does not delete", own, w.roomMod, w.privRoom, denied},

		{"room moderator moderates", moderate, w.roomMod, w.privRoom, allowed},
		{"room user does not moderate", moderate, w.roomUser, w.privRoom, denied},
		{"space moderator moderates a public room", moderate, w.spaceMod, w.pubRoom, allowed},
		{"space owner does not moderate a private room", moderate, w.spaceOwner, w.privRoom, denied},
		{"outsider does not moderate a public room", moderate, w.outsider, w.pubRoom, denied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := outcomeOf(t, tt.check(tt.caller, tt.room)); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCallRole: the role a signed-in user gets in a call.
func TestCallRole(t *testing.T) {
	w := newWorld(t)
	webinar := w.Room(w.pubSpace, w.spaceOwner, func(r *store.Room) { r.Type = store.RoomTypeWebinar })
	tests := []struct {
		name   string
		caller access.Caller
		room   store.Room
		want   grant.Role
		err    outcome
	}{
		{"room owner", w.spaceMod, w.privRoom, grant.RoleOwner, allowed},
		{"room moderator", w.roomMod, w.privRoom, grant.RoleModerator, allowed},
		{"room user", w.roomUser, w.privRoom, grant.RoleParticipant, allowed},
		{"space owner in a public room", w.spaceOwner, w.pubRoomPrivSpace, grant.RoleModerator, allowed},
		{"space moderator in a public room", w.spaceMod, w.pubRoom, grant.RoleModerator, allowed},
		{"space user in a public room", w.spaceUser, w.pubRoomPrivSpace, grant.RoleParticipant, allowed},
		{"anyone in a public room of a public space", w.outsider, webinar, grant.RoleParticipant, allowed},
		{"space owner in a private room", w.spaceOwner, w.privRoom, "", denied},
		{"outsider in a public room of a private space", w.outsider, w.pubRoomPrivSpace, "", denied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			role, err := w.acc.CallRole(w.Ctx, tt.caller, tt.room)
			if got := outcomeOf(t, err); got != tt.err || role != tt.want {
				t.Fatalf("CallRole = %q, %v; want %q, %v", role, got, tt.want, tt.err)
			}
		})
	}
}

// TestRoomByAlias: a client reads public rooms of its own client; a user
// as SeeRoom.
func TestRoomByAlias(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name   string
		caller access.Caller
		room   store.Room
		want   outcome
	}{
		{"client, public room", w.ClientCaller(), w.pubRoomPrivSpace, allowed},
		{"client, private room", w.ClientCaller(), w.privRoom, denied},
		{"another client", access.Caller{Client: w.foreign.Client}, w.pubRoom, notFound},
		{"user who may see", w.roomUser, w.privRoom, allowed},
		{"user who may not", w.outsider, w.pubRoomPrivSpace, denied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.acc.RoomByAlias(w.Ctx, tt.caller, tt.room.Alias)
			if got := outcomeOf(t, err); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestVisibleRooms: a space's rooms filtered by what the caller may see,
// then paged.
func TestVisibleRooms(t *testing.T) {
	w := newWorld(t)
	ids := func(c access.Caller, s store.Space, p store.Page) ([]store.RoomID, int) {
		t.Helper()
		v, err := w.acc.SeeSpace(w.Ctx, c, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		rooms, total, err := w.acc.VisibleRooms(w.Ctx, v, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []store.RoomID
		for _, r := range rooms {
			out = append(out, r.ID)
		}
		return out, total
	}
	if got, total := ids(w.spaceOwner, w.privSpace, store.Page{}); total != 1 || len(got) != 1 || got[0] != w.pubRoomPrivSpace.ID {
		t.Fatalf("the space's owner sees %v (total %d); want the public room only", got, total)
	}
	if _, total := ids(w.spaceMod, w.privSpace, store.Page{}); total != 2 {
		t.Fatalf("the rooms' creator sees %d rooms, want 2", total)
	}
	if got, total := ids(w.spaceMod, w.privSpace, store.Page{Offset: 1, Limit: 5}); total != 2 || len(got) != 1 {
		t.Fatalf("page 2 = %v (total %d)", got, total)
	}
}

// TestAuthenticate: JWTs of both audiences and personal tokens; expired
// and unknown tokens are auth.ErrInvalidToken.
func TestAuthenticate(t *testing.T) {
	w := newWorld(t)
	user := w.spaceOwner
	userTok, _, err := w.Tokens.Issue(w.Ctx, auth.Claims{Subject: string(user.User), Audience: auth.AudUser, Type: auth.TypeAccess,
		ClientID: string(user.Client), Family: "f1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clientTok, _, err := w.Tokens.Issue(w.Ctx, auth.Claims{Subject: string(w.Client), Audience: auth.AudClient, Type: auth.TypeAccess,
		ClientID: string(w.Client)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	exp := w.Clock.Now().Add(time.Minute)
	if err := w.Store.CreatePersonalToken(w.Ctx, store.PersonalToken{ID: "0123456789abcdef01234567", ClientID: user.Client, UserID: user.User,
		Name: "ci", TokenHash: auth.TokenHash(access.PersonalTokenPrefix + "secret"), CreatedAt: w.Clock.Now(), ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	c, err := w.acc.Authenticate(w.Ctx, userTok)
	if err != nil || c.User != user.User || c.Client != user.Client || c.Family != "f1" || !c.IsUser() {
		t.Fatalf("user token: %+v, %v", c, err)
	}
	if c, err := w.acc.Authenticate(w.Ctx, clientTok); err != nil || c.IsUser() || c.Client != w.Client {
		t.Fatalf("client token: %+v, %v", c, err)
	}
	if c, err := w.acc.Authenticate(w.Ctx, access.PersonalTokenPrefix+"secret"); err != nil || c.User != user.User || !c.Expires.Equal(exp) {
		t.Fatalf("personal token: %+v, %v", c, err)
	}
	for name, tok := range map[string]string{"unknown personal token": access.PersonalTokenPrefix + "nope", "garbage": "a.b.c"} {
		if _, err := w.acc.Authenticate(w.Ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	w.Clock.Advance(time.Minute)
	if _, err := w.acc.Authenticate(w.Ctx, access.PersonalTokenPrefix+"secret"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("expired personal token: %v", err)
	}
	if _, err := w.acc.Verify(w.Ctx, userTok, auth.TypeLink, auth.AudLink); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("a user token verified as a link: %v", err)
	}
}

// TestCachedReads: rooms and room roles are read through the cache for its
// TTL; Forget drops the part a write made stale; encoded answers stay with
// the cached room.
func TestCachedReads(t *testing.T) {
	w := newWorld(t)
	acc, err := access.New(access.Options{Store: w.Store, Tokens: w.Tokens, Now: w.Clock.Now, ReadCacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ref := servicetest.Ref(w.privRoom)
	v, err := acc.SeeRoom(w.Ctx, w.roomUser, ref)
	if err != nil {
		t.Fatal(err)
	}
	v.KeepEncoded([]byte(`{"as":"room user"}`))

	// A change made behind the cache (another replica) shows within the TTL.
	changed := w.privRoom
	changed.Name = "renamed"
	if err := w.Store.UpdateRoom(w.Ctx, changed); err != nil {
		t.Fatal(err)
	}
	w.Grant(w.privRoom, w.roomUser, store.RoomRoleModerator)
	v, err = acc.SeeRoom(w.Ctx, w.roomUser, ref)
	if err != nil || v.Room().Name != "room" || v.Room().Role != store.RoomRoleUser || string(v.Encoded()) != `{"as":"room user"}` {
		t.Fatalf("within the TTL: %+v %s, %v", v.Room(), v.Encoded(), err)
	}
	acc.Forget(access.CachedRoomRoles)
	if v, _ = acc.SeeRoom(w.Ctx, w.roomUser, ref); v.Room().Role != store.RoomRoleModerator || v.Room().Name != "room" || v.Encoded() != nil {
		t.Fatalf("after forgetting roles: %+v, encoded %q", v.Room(), v.Encoded())
	}
	acc.Forget(access.CachedRooms)
	if v, _ = acc.SeeRoom(w.Ctx, w.roomUser, ref); v.Room().Name != "renamed" {
		t.Fatalf("after forgetting rooms: %+v", v.Room())
	}
	w.Clock.Advance(time.Second)
	changed.Name = "again"
	if err := w.Store.UpdateRoom(w.Ctx, changed); err != nil {
		t.Fatal(err)
	}
	if v, _ = acc.SeeRoom(w.Ctx, w.roomUser, ref); v.Room().Name != "again" {
		t.Fatalf("after the TTL: %+v", v.Room())
	}
}

// TestLookupAlias: a room looked up by alias comes from the read cache
// within the TTL (a change behind the cache does not show), goes with the
// cached rooms (Forget) and after the TTL; a missing alias is
// store.ErrNotFound and is not cached.
func TestLookupAlias(t *testing.T) {
	w := newWorld(t)
	acc, err := access.New(access.Options{Store: w.Store, Tokens: w.Tokens, Now: w.Clock.Now, ReadCacheTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rm := w.privRoom
	if got, err := acc.LookupAlias(w.Ctx, rm.Alias); err != nil || got.ID != rm.ID {
		t.Fatalf("lookup: %+v, %v", got, err)
	}
	changed := rm
	changed.Name = "renamed"
	if err := w.Store.UpdateRoom(w.Ctx, changed); err != nil {
		t.Fatal(err)
	}
	if got, _ := acc.LookupAlias(w.Ctx, rm.Alias); got.Name != rm.Name {
		t.Fatalf("within the TTL: %q, want the cached %q", got.Name, rm.Name)
	}
	acc.Forget(access.CachedRoomRoles)
	if got, _ := acc.LookupAlias(w.Ctx, rm.Alias); got.Name != rm.Name {
		t.Fatalf("after forgetting roles only: %q, want the cached %q", got.Name, rm.Name)
	}
	acc.Forget(access.CachedRooms)
	if got, _ := acc.LookupAlias(w.Ctx, rm.Alias); got.Name != "renamed" {
		t.Fatalf("after forgetting rooms: %q", got.Name)
	}
	changed.Name = "again"
	if err := w.Store.UpdateRoom(w.Ctx, changed); err != nil {
		t.Fatal(err)
	}
	w.Clock.Advance(time.Second)
	if got, _ := acc.LookupAlias(w.Ctx, rm.Alias); got.Name != "again" {
		t.Fatalf("after the TTL: %q", got.Name)
	}
	if _, err := acc.LookupAlias(w.Ctx, "no-such-alias"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing alias: %v", err)
	}
	// A room that appears behind the cache is found at once: misses are
	// not cached.
	sp, err := w.Store.GetSpace(w.Ctx, w.Client, rm.SpaceID)
	if err != nil {
		t.Fatal(err)
	}
	late := w.Room(sp, w.spaceOwner, nil)
	if got, err := acc.LookupAlias(w.Ctx, late.Alias); err != nil || got.ID != late.ID {
		t.Fatalf("a new room: %+v, %v", got, err)
	}
}
