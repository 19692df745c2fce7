package placement

import (
	"sync"
	"time"
)

// recent remembers this replica's own placements for a window, so that
// decisions made faster than gossip spreads load and rooms still see them:
// each recent placement on an edge counts as one more participant there,
// and a room placed recently counts as hosted by the edge it went to. Safe
// for concurrent use; its size is the join rate times the window, and each
// join costs O(1) amortised (placements expire from the front of a FIFO).
type recent struct {
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	picks   []pick                    // oldest first, from head on
	head    int                       // picks[:head] have expired
	perNode map[string]int            // node → placements in the window
	perRoom map[string]map[string]int // room → node → placements in the window
}

type pick struct {
	at         time.Time
	node, room string
}

func newRecent(window time.Duration, now func() time.Time) *recent {
	return &recent{window: window, now: now, perNode: map[string]int{}, perRoom: map[string]map[string]int{}}
}

// place runs choose over f adjusted by the recent placements, and records
// the one it makes. It holds the lock across the choice so that concurrent
// joins see each other.
func (r *recent) place(room string, f Fleet, choose func(Fleet) (Placement, error)) (Placement, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.expire(now.Add(-r.window))
	for i := range f.Edges {
		f.Edges[i].Participants += r.perNode[f.Edges[i].NodeID]
	}
	if nodes := r.perRoom[room]; len(nodes) > 0 {
		hosts := make(map[string]int, len(f.RoomHosts)+len(nodes))
		for id, n := range f.RoomHosts {
			hosts[id] = n
		}
		for id, n := range nodes {
			if _, ok := hosts[id]; !ok {
				hosts[id] = n
			}
		}
		f.RoomHosts = hosts
	}
	pl, err := choose(f)
	if err != nil {
		return pl, err
	}
	r.picks = append(r.picks, pick{at: now, node: pl.NodeID, room: room})
	r.perNode[pl.NodeID]++
	if room != "" {
		if r.perRoom[room] == nil {
			r.perRoom[room] = map[string]int{}
		}
		r.perRoom[room][pl.NodeID]++
	}
	return pl, nil
}

// expire forgets the placements made at or before cut. The expired prefix
// is dropped by moving head; the slice is compacted only once it is at
// least half dead, so each placement is copied O(1) times.
func (r *recent) expire(cut time.Time) {
	for ; r.head < len(r.picks) && !r.picks[r.head].at.After(cut); r.head++ {
		p := r.picks[r.head]
		if r.perNode[p.node]--; r.perNode[p.node] == 0 {
			delete(r.perNode, p.node)
		}
		if nodes := r.perRoom[p.room]; nodes != nil {
			if nodes[p.node]--; nodes[p.node] == 0 {
				delete(nodes, p.node)
			}
			if len(nodes) == 0 {
				delete(r.perRoom, p.room)
			}
		}
	}
	if r.head > 0 && r.head*2 >= len(r.picks) {
		r.picks = append(r.picks[:0], r.picks[r.head:]...)
		r.head = 0
	}
}
