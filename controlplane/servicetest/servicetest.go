package servicetest

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/sqlite"
)

// Clock is a test's clock: it stands still until Advance.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// World is one client of a fresh store, and what a test builds in it.
type World struct {
	t      testing.TB
	Ctx    context.Context
	Store  *sqlite.Store
	Tokens *auth.Tokens
	Clock  *Clock
	Client store.ClientID
	seq    int
}

// New opens a store in t's temporary folder (closed when t ends), with its
// signing key, and makes a client in it.
func New(t testing.TB) *World {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "spacecast.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := &Clock{now: time.Now().UTC().Truncate(time.Millisecond)}
	keys := auth.NewKeyring(st, clock.Now, 0)
	if err := keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	w := &World{t: t, Ctx: ctx, Store: st, Tokens: auth.NewTokens(keys, clock.Now), Clock: clock}
	w.Client = w.NewClient("acme")
	return w
}

// Access is an access.Service over the world's store (read cache off).
func (w *World) Access() *access.Service {
	w.t.Helper()
	a, err := access.New(access.Options{Store: w.Store, Tokens: w.Tokens, Now: w.Clock.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// id is a fresh id of the store's shape (24 lowercase hex).
func (w *World) id() string {
	id, err := auth.RandomID()
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// NewClient makes another API client.
func (w *World) NewClient(name string) store.ClientID {
	w.t.Helper()
	id := store.ClientID(w.id())
	if err := w.Store.CreateClient(w.Ctx, store.Client{ID: id, Name: name, SecretHash: auth.HashSecret("secret"), CreatedAt: w.Clock.Now()}); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// User makes a user of the world's client and answers it as a caller
// signed in with a user token.
func (w *World) User(name string) access.Caller { return w.UserOf(w.Client, name) }

// UserOf makes a user of client.
func (w *World) UserOf(client store.ClientID, name string) access.Caller {
	w.t.Helper()
	w.seq++
	u := store.User{ID: store.UserID(w.id()), ClientID: client, Email: name + strconv.Itoa(w.seq) + "@example.test", Username: name,
		PasswordHash: "x", CreatedAt: w.Clock.Now()}
	if err := w.Store.CreateUser(w.Ctx, u); err != nil {
		w.t.Fatal(err)
	}
	return access.Caller{Client: client, User: u.ID, Expires: w.Clock.Now().Add(time.Hour)}
}

// ClientCaller is the world's client calling with a client token.
func (w *World) ClientCaller() access.Caller { return access.Caller{Client: w.Client} }

// Space makes a space owned by owner.
func (w *World) Space(owner access.Caller, public bool) store.Space {
	w.t.Helper()
	now := w.Clock.Now()
	s := store.Space{ID: store.SpaceID(w.id()), ClientID: owner.Client, OwnerID: owner.User, Name: "space", IsPublic: public, CreatedAt: now, UpdatedAt: now}
	if err := w.Store.CreateSpace(w.Ctx, s); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// AddMember makes user a member of space with role (through an invite, the
// store's only way in).
func (w *World) AddMember(s store.Space, user access.Caller, role store.SpaceRole) {
	w.t.Helper()
	exp := w.Clock.Now().Add(time.Hour)
	inv := store.Invite{ID: w.id(), ClientID: s.ClientID, SpaceID: s.ID, Role: role, CreatedBy: s.OwnerID, CreatedAt: w.Clock.Now(), ExpiresAt: &exp}
	if err := w.Store.CreateInvite(w.Ctx, inv); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.Store.ActivateInvite(w.Ctx, s.ClientID, s.ID, inv.ID, user.User, w.Clock.Now()); err != nil {
		w.t.Fatal(err)
	}
}

// Room makes a room of space owned by owner; edit, if not nil, sets its
// fields first (it is a public lesson otherwise).
func (w *World) Room(s store.Space, owner access.Caller, edit func(*store.Room)) store.Room {
	w.t.Helper()
	now := w.Clock.Now()
	w.seq++
	r := store.Room{ID: store.RoomID(w.id()), ClientID: s.ClientID, SpaceID: s.ID, OwnerID: owner.User, ChannelID: w.id(),
		Alias: "room" + strconv.Itoa(w.seq) + "x", Name: "room", Type: store.RoomTypeLesson, IsPublic: true, CreatedAt: now, UpdatedAt: now}
	if edit != nil {
		edit(&r)
	}
	if err := w.Store.CreateRoom(w.Ctx, r); err != nil {
		w.t.Fatal(err)
	}
	return r
}

// Grant gives user role in room.
func (w *World) Grant(r store.Room, user access.Caller, role store.RoomRole) {
	w.t.Helper()
	if err := w.Store.SetRoomMember(w.Ctx, r.ClientID, store.RoomMember{RoomID: r.ID, UserID: user.User, Role: role, CreatedAt: w.Clock.Now()}); err != nil {
		w.t.Fatal(err)
	}
}

// Ref names room r as the REST paths do.
func Ref(r store.Room) access.RoomRef { return access.RoomRef{Space: r.SpaceID, Room: r.ID} }
