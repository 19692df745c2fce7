package api

import (
	"sync"
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
	rooms   map[roomKey]cachedRoom
	members map[memberKey]cachedRole
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
}

type cachedRole struct {
	role store.RoomRole // "" for none
	at   time.Time
}

const maxCacheEntries = 100_000

func newReadCache(ttl time.Duration) *readCache {
	return &readCache{ttl: ttl, rooms: map[roomKey]cachedRoom{}, members: map[memberKey]cachedRole{}}
}

func (c *readCache) room(k roomKey, now time.Time) (store.Room, bool) {
	if c == nil {
		return store.Room{}, false
	}
	c.mu.RLock()
	e, ok := c.rooms[k]
	c.mu.RUnlock()
	if !ok || now.Sub(e.at) >= c.ttl {
		return store.Room{}, false
	}
	return e.room, true
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

func (c *readCache) putRoom(gen uint64, k roomKey, r store.Room, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // a write happened meanwhile: the read may be stale
	}
	if len(c.rooms) >= maxCacheEntries {
		c.rooms = map[roomKey]cachedRoom{}
	}
	c.rooms[k] = cachedRoom{room: r, at: now}
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
	c.rooms = map[roomKey]cachedRoom{}
	c.members = map[memberKey]cachedRole{}
	c.mu.Unlock()
}
