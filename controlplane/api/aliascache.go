package api

import (
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// cachedAlias is a room looked up by its alias.
type cachedAlias struct {
	room store.Room
	at   time.Time
}

// roomByAlias looks a room up by its alias through the read cache: every
// join does, and with a store across the network the lookup is a round
// trip. The entry goes with the rest of the cache (a write through this
// replica, another replica's change notification) and after the TTL.
func (r *request) roomByAlias(alias string) (store.Room, error) {
	c := r.a.cache
	if c == nil {
		return r.a.o.Store.GetRoomByAlias(r.context(), alias)
	}
	c.mu.RLock()
	e, ok := c.aliases[alias]
	gen := c.gen
	c.mu.RUnlock()
	if ok && r.now.Sub(e.at) < c.ttl {
		return e.room, nil
	}
	rm, err := r.a.o.Store.GetRoomByAlias(r.context(), alias)
	if err != nil {
		return rm, err
	}
	c.mu.Lock()
	if gen == c.gen { // no write meanwhile: the read is current
		if len(c.aliases) >= maxCacheEntries {
			c.aliases = map[string]cachedAlias{}
		}
		c.aliases[alias] = cachedAlias{room: rm, at: r.now}
	}
	c.mu.Unlock()
	return rm, nil
}
