package access

import (
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func TestReadCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReadCache(time.Second)
	k := roomKey{"c", "s", "r"}
	gen, _ := c.generations()
	c.putRoom(gen, k, store.Room{Name: "a"}, now)
	if e := c.room(k, now.Add(500*time.Millisecond)); e == nil || e.room.Name != "a" {
		t.Fatal("miss within the TTL")
	}
	if c.room(k, now.Add(time.Second)) != nil {
		t.Fatal("hit after the TTL")
	}
	// A read that started before a write does not fill the cache after it.
	gen, _ = c.generations()
	c.forget(CachedRooms)
	c.putRoom(gen, k, store.Room{Name: "stale"}, now)
	if c.room(k, now) != nil {
		t.Fatal("a stale read was cached across a write")
	}
	mk := memberKey{"c", "r", "u"}
	_, rgen := c.generations()
	c.putRole(rgen, mk, "", now)
	if role, ok := c.role(mk, now); !ok || role != "" {
		t.Fatal("negative role not cached")
	}
	// Each part is forgotten alone.
	gen, _ = c.generations()
	c.putRoom(gen, k, store.Room{Name: "b"}, now)
	c.forget(CachedRooms)
	if _, ok := c.role(mk, now); !ok {
		t.Fatal("forgetting rooms forgot a role")
	}
	gen, _ = c.generations()
	c.putRoom(gen, k, store.Room{Name: "c"}, now)
	c.forget(CachedRoomRoles)
	if _, ok := c.role(mk, now); ok {
		t.Fatal("forgetting roles kept a role")
	}
	if c.room(k, now) == nil {
		t.Fatal("forgetting roles forgot a room")
	}
	c.forget(0)
	if c.room(k, now) == nil {
		t.Fatal("forgetting nothing forgot a room")
	}
	var off *readCache // disabled
	off.putRoom(0, k, store.Room{}, now)
	if off.room(k, now) != nil {
		t.Fatal("disabled cache hit")
	}
	off.forget(CachedRooms | CachedRoomRoles)
}

// TestReadCacheViews: encoded answers are kept per role with their entry
// and go with it.
func TestReadCacheViews(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReadCache(time.Second)
	k := roomKey{"c", "s", "r"}
	gen, _ := c.generations()
	e := c.putRoom(gen, k, store.Room{Name: "a"}, now)
	if e == nil || e.view("") != nil {
		t.Fatal("a new entry has a view")
	}
	e.setView(store.RoomRoleOwner, []byte(`owner`))
	e.setView("", []byte(`none`))
	if string(c.room(k, now).view(store.RoomRoleOwner)) != "owner" || string(e.view("")) != "none" || e.view(store.RoomRoleUser) != nil {
		t.Fatal("views mixed up")
	}
	e.setView("role_unknown", []byte(`x`))
	if e.view("role_unknown") != nil {
		t.Fatal("an unknown role was kept")
	}
	c.forget(CachedRooms)
	if c.room(k, now) != nil {
		t.Fatal("forget kept the entry")
	}
	gen, _ = c.generations()
	e2 := c.putRoom(gen, k, store.Room{Name: "b"}, now)
	if e2.view(store.RoomRoleOwner) != nil {
		t.Fatal("a view outlived its entry")
	}
}
