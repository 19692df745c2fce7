package api

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// readCache keeps rooms and room roles that authenticated GETs read, for a
// short TTL. This replica's own writes to rooms, roles and spaces clear it
// at once; a change made through another replica is seen within the TTL.
// It is bounded: at maxEntries it starts over.
type readCache struct {
	ttl time.Duration

	mu      sync.RWMutex
	gen     uint64 // bumped by clear; a put from an older generation is dropped
	rooms   map[roomKey]*cachedRoom
	members map[memberKey]cachedRole
	aliases map[string]cachedAlias // rooms by alias (aliascache.go)
}

type roomKey struct {
	client store.ClientID
	space  store.SpaceID
	room   store.RoomID
}

type memberKey struct {
	client store.ClientID
	room   store.RoomID
	user   store.UserID
}

type cachedRoom struct {
	room store.Room
	at   time.Time
	// views are the encoded RoomView answers of this room, one per role of
	// the caller (roleIndex), filled on first use. They are a function of
	// room alone, so they live and die with the entry.
	views [4]atomic.Pointer[[]byte]
}

func roleIndex(r store.RoomRole) int {
	switch r {
	case store.RoomRoleOwner:
		return 1
	case store.RoomRoleModerator:
		return 2
	case store.RoomRoleUser:
		return 3
	}
	return 0
}

// view is the encoded answer for a caller with role rrole, nil if not
// encoded yet (or a role this cache does not keep).
func (e *cachedRoom) view(rrole store.RoomRole) []byte {
	if e == nil || (rrole != "" && roleIndex(rrole) == 0) {
		return nil
	}
	if b := e.views[roleIndex(rrole)].Load(); b != nil {
		return *b
	}
	return nil
}

func (e *cachedRoom) setView(rrole store.RoomRole, b []byte) {
	if e == nil || (rrole != "" && roleIndex(rrole) == 0) {
		return
	}
	e.views[roleIndex(rrole)].Store(&b)
}

type cachedRole struct {
	role store.RoomRole // "" for none
	at   time.Time
}

const maxCacheEntries = 100_000

func newReadCache(ttl time.Duration) *readCache {
	return &readCache{ttl: ttl, rooms: map[roomKey]*cachedRoom{}, members: map[memberKey]cachedRole{}, aliases: map[string]cachedAlias{}}
}

func (c *readCache) room(k roomKey, now time.Time) (store.Room, bool) {
	if e := c.entry(k, now); e != nil {
		return e.room, true
	}
	return store.Room{}, false
}

// entry is the live cache entry of k, nil if none.
func (c *readCache) entry(k roomKey, now time.Time) *cachedRoom {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	e := c.rooms[k]
	c.mu.RUnlock()
	if e == nil || now.Sub(e.at) >= c.ttl {
		return nil
	}
	return e
}

// generation is read before a store read whose result will be put.
func (c *readCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// putRoom caches r and returns its entry (nil when not cached).
func (c *readCache) putRoom(gen uint64, k roomKey, r store.Room, now time.Time) *cachedRoom {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return nil // a write happened meanwhile: the read may be stale
	}
	if len(c.rooms) >= maxCacheEntries {
		c.rooms = map[roomKey]*cachedRoom{}
	}
	e := &cachedRoom{room: r, at: now}
	c.rooms[k] = e
	return e
}

func (c *readCache) role(k memberKey, now time.Time) (store.RoomRole, bool) {
	if c == nil {
		return "", false
	}
	c.mu.RLock()
	e, ok := c.members[k]
	c.mu.RUnlock()
	if !ok || now.Sub(e.at) >= c.ttl {
		return "", false
	}
	return e.role, true
}

func (c *readCache) putRole(gen uint64, k memberKey, role store.RoomRole, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.members) >= maxCacheEntries {
		c.members = map[memberKey]cachedRole{}
	}
	c.members[k] = cachedRole{role: role, at: now}
}

// clear forgets everything (after a write to rooms, roles or spaces).
func (c *readCache) clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen++
	c.rooms = map[roomKey]*cachedRoom{}
	c.members = map[memberKey]cachedRole{}
	c.aliases = map[string]cachedAlias{}
	c.mu.Unlock()
}
