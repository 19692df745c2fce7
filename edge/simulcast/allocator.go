package simulcast

// Track priorities for Allocate: higher is served first.
const (
	PriorityNormal  = 0
	PrioritySpeaker = 1 // the active speaker's camera
	PriorityScreen  = 2 // screen shares: unreadable when starved
)

// Track is one video track a subscriber receives, for Allocate.
type Track struct {
	Layers   []Layer
	Request  Request
	Priority int
}

// Allocator splits one subscriber's bandwidth estimate across its video
// tracks. It keeps scratch space between calls, so it allocates only when
// the number of tracks grows. Not safe for concurrent use.
type Allocator struct {
	order  []int
	wanted []int
	level  []int
}

// cost is layer i's bitrate (0 if unknown: assumed to fit).
func cost(layers []Layer, i int) uint64 {
	if i < 0 {
		return 0
	}
	return layers[i].Bitrate
}

// nextActive is the first active layer above from and at most limit, or -1.
func nextActive(layers []Layer, from, limit int) int {
	for i := from + 1; i <= limit && i < len(layers); i++ {
		if layers[i].Active {
			return i
		}
	}
	return -1
}

// Allocate writes into out (grown to len(tracks)) the budget in bits/s that
// each track's Selector should get as its estimate, and returns it. estimate
// is the subscriber's video bandwidth (audio already subtracted); 0 means
// unknown, and every budget is then 0 (no limit).
//
// Every track first gets its lowest wanted layer, highest priority first, so
// a short estimate starves the least important tracks (budget 1: nothing
// fits). Then tracks climb towards the layer they want, a whole priority
// class before the next, tracks of one class one layer at a time in turn so
// they share fairly. What is left is spread over the tracks that got a
// layer, as headroom for the selectors' up margin.
func (a *Allocator) Allocate(estimate uint64, tracks []Track, out []uint64) []uint64 {
	n := len(tracks)
	out = grow(out, n)
	if estimate == 0 {
		for i := range out {
			out[i] = 0
		}
		return out
	}
	a.order = growInt(a.order, n)
	a.wanted = growInt(a.wanted, n)
	a.level = growInt(a.level, n)
	for i := range tracks {
		a.order[i] = i
		a.wanted[i] = Wanted(tracks[i].Layers, tracks[i].Request)
		a.level[i] = -1
	}
	// Stable insertion sort by priority, highest first (few tracks).
	for i := 1; i < n; i++ {
		for j := i; j > 0 && tracks[a.order[j]].Priority > tracks[a.order[j-1]].Priority; j-- {
			a.order[j], a.order[j-1] = a.order[j-1], a.order[j]
		}
	}
	remaining := estimate
	for _, i := range a.order {
		if a.wanted[i] < 0 {
			continue
		}
		low := nextActive(tracks[i].Layers, -1, a.wanted[i])
		if c := cost(tracks[i].Layers, low); low >= 0 && c <= remaining {
			a.level[i] = low
			remaining -= c
		}
	}
	for start := 0; start < n; {
		end := start + 1
		for end < n && tracks[a.order[end]].Priority == tracks[a.order[start]].Priority {
			end++
		}
		for progress := true; progress; {
			progress = false
			for _, i := range a.order[start:end] {
				if a.level[i] < 0 {
					continue
				}
				next := nextActive(tracks[i].Layers, a.level[i], a.wanted[i])
				if next < 0 {
					continue
				}
				delta := cost(tracks[i].Layers, next) - min(cost(tracks[i].Layers, next), cost(tracks[i].Layers, a.level[i]))
				if delta <= remaining {
					a.level[i] = next
					remaining -= delta
					progress = true
				}
			}
		}
		start = end
	}
	served := 0
	for i := range tracks {
		if a.level[i] >= 0 {
			served++
		}
	}
	for i := range tracks {
		if a.level[i] < 0 {
			out[i] = 1
			continue
		}
		out[i] = max(cost(tracks[i].Layers, a.level[i])+remaining/uint64(served), 1)
	}
	return out
}

func grow(s []uint64, n int) []uint64 {
	if cap(s) < n {
		return make([]uint64, n)
	}
	return s[:n]
}

func growInt(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}
