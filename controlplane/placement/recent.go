package placement

import (
	"sync"
	"time"
)

// recent remembers this replica's own placements for a window, so that
// decisions made faster than gossip spreads load and rooms still see them:
// each recent placement on an edge counts as one more participant there,
// and a room placed recently counts as hosted by the edge it went to. Safe
// for concurrent use; bounded by the join rate times the window.
type recent struct {
	window time.Duration
	now    func() time.Time

	mu     sync.Mutex
	byNode map[string][]time.Time          // placement times, oldest first
	byRoom map[string]map[string]time.Time // room → node → last placement
}

func newRecent(window time.Duration, now func() time.Time) *recent {
	return &recent{window: window, now: now, byNode: map[string][]time.Time{}, byRoom: map[string]map[string]time.Time{}}
}

// place runs choose over f adjusted by the recent placements, and records
// the one it makes. It holds the lock across the choice so that concurrent
// joins see each other.
func (r *recent) place(room string, f Fleet, choose func(Fleet) (Placement, error)) (Placement, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.prune(now)
	for i := range f.Edges {
		f.Edges[i].Participants += len(r.byNode[f.Edges[i].NodeID])
	}
	if nodes := r.byRoom[room]; len(nodes) > 0 {
		hosts := make(map[string]int, len(f.RoomHosts)+len(nodes))
		for id, n := range f.RoomHosts {
			hosts[id] = n
		}
		for id := range nodes {
			if _, ok := hosts[id]; !ok {
				hosts[id] = 1
			}
		}
		f.RoomHosts = hosts
	}
	pl, err := choose(f)
	if err != nil {
		return pl, err
	}
	r.byNode[pl.NodeID] = append(r.byNode[pl.NodeID], now)
	if room != "" {
		if r.byRoom[room] == nil {
			r.byRoom[room] = map[string]time.Time{}
		}
		r.byRoom[room][pl.NodeID] = now
	}
	return pl, nil
}

// prune forgets placements older than the window.
func (r *recent) prune(now time.Time) {
	cut := now.Add(-r.window)
	for id, ts := range r.byNode {
		i := 0
		for i < len(ts) && !ts[i].After(cut) {
			i++
		}
		if i == len(ts) {
			delete(r.byNode, id)
		} else if i > 0 {
			r.byNode[id] = append(ts[:0], ts[i:]...)
		}
	}
	for room, nodes := range r.byRoom {
		for id, at := range nodes {
			if !at.After(cut) {
				delete(nodes, id)
			}
		}
		if len(nodes) == 0 {
			delete(r.byRoom, room)
		}
	}
}
