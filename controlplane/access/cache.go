package access

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// Cached names what the read cache keeps, so that a write can say which
// of it the write makes stale.
type Cached uint8

// What the read cache keeps.
const (
	// CachedRooms are rooms read by space and id, and by alias.
	CachedRooms Cached = 1 << iota
	// CachedRoomRoles are users' explicit roles in rooms (and their
	// absence).
	CachedRoomRoles
)

// readCache keeps the rooms and room roles that access decisions read, for
// a short TTL. This replica's own writes forget what they make stale at
// once; a change made through another replica is seen within the TTL. Each
// part is bounded: at maxCacheEntries it starts over.
type readCache struct {
	ttl time.Duration

	mu sync.RWMutex
	// roomGen and roleGen are bumped by forget; a put read before a
	// forget of its part is dropped.
	roomGen, roleGen uint64
	rooms            map[roomKey]*cachedRoom
	roles            map[memberKey]cachedRole
	// aliases are rooms looked up by alias (every join does one): a part
	// of CachedRooms.
	aliases map[string]cachedAlias
}

type cachedAlias struct {
	room store.Room
	at   time.Time
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
	// encoded are answers encoded for this room, one per room role of the
	// caller (roleIndex), kept by whoever encodes them (VisibleRoom). They
	// are a function of room alone, so they live and die with the entry.
	encoded [4]atomic.Pointer[[]byte]
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

// view is the answer encoded for a caller with role rrole, nil if none yet
// (or a role this cache does not keep).
func (e *cachedRoom) view(rrole store.RoomRole) []byte {
	if e == nil || (rrole != "" && roleIndex(rrole) == 0) {
		return nil
	}
	if b := e.encoded[roleIndex(rrole)].Load(); b != nil {
		return *b
	}
	return nil
}

func (e *cachedRoom) setView(rrole store.RoomRole, b []byte) {
	if e == nil || (rrole != "" && roleIndex(rrole) == 0) {
		return
	}
	e.encoded[roleIndex(rrole)].Store(&b)
}

type cachedRole struct {
	role store.RoomRole // "" for none
	at   time.Time
}

const maxCacheEntries = 100_000

func newReadCache(ttl time.Duration) *readCache {
	return &readCache{ttl: ttl, rooms: map[roomKey]*cachedRoom{}, roles: map[memberKey]cachedRole{}, aliases: map[string]cachedAlias{}}
}

// room is the live entry of k, nil if none.
func (c *readCache) room(k roomKey, now time.Time) *cachedRoom {
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

// generations are read before a store read whose result will be put.
func (c *readCache) generations() (rooms, roles uint64) {
	if c == nil {
		return 0, 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.roomGen, c.roleGen
}

// putRoom caches r, read at generation gen, and returns its entry (nil when
// not cached).
func (c *readCache) putRoom(gen uint64, k roomKey, r store.Room, now time.Time) *cachedRoom {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.roomGen {
		return nil // rooms were written meanwhile: the read may be stale
	}
	if len(c.rooms) >= maxCacheEntries {
		c.rooms = map[roomKey]*cachedRoom{}
	}
	e := &cachedRoom{room: r, at: now}
	c.rooms[k] = e
	return e
}

// alias is the live entry of alias.
func (c *readCache) alias(alias string, now time.Time) (store.Room, bool) {
	if c == nil {
		return store.Room{}, false
	}
	c.mu.RLock()
	e, ok := c.aliases[alias]
	c.mu.RUnlock()
	if !ok || now.Sub(e.at) >= c.ttl {
		return store.Room{}, false
	}
	return e.room, true
}

// putAlias caches r as the room of alias, read at rooms generation gen.
func (c *readCache) putAlias(gen uint64, alias string, r store.Room, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.roomGen {
		return // rooms were written meanwhile: the read may be stale
	}
	if len(c.aliases) >= maxCacheEntries {
		c.aliases = map[string]cachedAlias{}
	}
	c.aliases[alias] = cachedAlias{room: r, at: now}
}

func (c *readCache) role(k memberKey, now time.Time) (store.RoomRole, bool) {
	if c == nil {
		return "", false
	}
	c.mu.RLock()
	e, ok := c.roles[k]
	c.mu.RUnlock()
	if !ok || now.Sub(e.at) >= c.ttl {
		return "", false
	}
	return e.role, true
}

// putRole caches role, read at generation gen.
func (c *readCache) putRole(gen uint64, k memberKey, role store.RoomRole, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.roleGen {
		return
	}
	if len(c.roles) >= maxCacheEntries {
		c.roles = map[memberKey]cachedRole{}
	}
	c.roles[k] = cachedRole{role: role, at: now}
}

// forget drops the parts of the cache that what names.
func (c *readCache) forget(what Cached) {
	if c == nil || what == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if what&CachedRooms != 0 {
		c.roomGen++
		c.rooms = map[roomKey]*cachedRoom{}
		c.aliases = map[string]cachedAlias{}
	}
	if what&CachedRoomRoles != 0 {
		c.roleGen++
		c.roles = map[memberKey]cachedRole{}
	}
}
