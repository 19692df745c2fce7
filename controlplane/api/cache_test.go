package api

import (
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func TestReadCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReadCache(time.Second)
	k := roomKey{"c", "s", "r"}
	gen := c.generation()
	c.putRoom(gen, k, store.Room{Name: "a"}, now)
	if r, ok := c.room(k, now.Add(500*time.Millisecond)); !ok || r.Name != "a" {
		t.Fatal("miss within the TTL")
	}
	if _, ok := c.room(k, now.Add(time.Second)); ok {
		t.Fatal("hit after the TTL")
	}
	// A read that started before a write does not fill the cache after it.
	gen = c.generation()
	c.clear()
	c.putRoom(gen, k, store.Room{Name: "stale"}, now)
	if _, ok := c.room(k, now); ok {
		t.Fatal("a stale read was cached across a write")
	}
	mk := memberKey{"c", "r", "u"}
	c.putRole(c.generation(), mk, "", now)
	if role, ok := c.role(mk, now); !ok || role != "" {
		t.Fatal("negative role not cached")
	}
	c.clear()
	if _, ok := c.role(mk, now); ok {
		t.Fatal("clear kept a role")
	}
	var off *readCache // disabled
	off.putRoom(0, k, store.Room{}, now)
	if _, ok := off.room(k, now); ok {
		t.Fatal("disabled cache hit")
	}
	off.clear()
}

// TestReadCacheViews: encoded answers are kept per role with their entry
// and go with it.
func TestReadCacheViews(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReadCache(time.Second)
	k := roomKey{"c", "s", "r"}
	e := c.putRoom(c.generation(), k, store.Room{Name: "a"}, now)
	if e == nil || e.view("") != nil {
		t.Fatal("a new entry has a view")
	}
	e.setView(store.RoomRoleOwner, []byte(`owner`))
	e.setView("", []byte(`none`))
	if string(c.entry(k, now).view(store.RoomRoleOwner)) != "owner" || string(e.view("")) != "none" || e.view(store.RoomRoleUser) != nil {
		t.Fatal("views mixed up")
	}
	e.setView("role_unknown", []byte(`x`))
	if e.view("role_unknown") != nil {
		t.Fatal("an unknown role was kept")
	}
	c.clear()
	if c.entry(k, now) != nil {
		t.Fatal("clear kept the entry")
	}
	e2 := c.putRoom(c.generation(), k, store.Room{Name: "b"}, now)
	if e2.view(store.RoomRoleOwner) != nil {
		t.Fatal("a view outlived its entry")
	}
}
