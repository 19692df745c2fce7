package gossip

import (
	"maps"
	"math"
	"time"
)

// vmap is a replicated map of named entries per origin node: the room
// directory and the relayers' listings are two of them. It is not safe for
// concurrent use: Node guards it with its mutex.
//
// Every node is the only writer of its own entries and versions them with a
// counter that starts at the wall clock in nanoseconds (so a restarted node
// starts above everything it said before) and increases by one per change.
// Copies merge entry by entry, higher version wins; an origin's Complete is
// the version up to which a copy misses nothing, which lets a copy drop
// entries that the origin deleted while the copy missed the deletion. A
// deletion travels as a tombstone until Complete covers it.
type vmap[T any] struct {
	self    string
	start   uint64 // the counter when this process started
	counter uint64
	own     map[string]T
	ownVer  map[string]uint64 // the version of each of own's entries
	others  map[string]*vorigin[T]
	clone   func(T) T
	// gone holds the version at which a failed or departed node's entries
	// were dropped, so stale copies relayed by slower nodes do not bring
	// them back. Cleared when the node is seen alive again.
	gone map[string]goneNode
}

// ventry is one entry of an origin.
type ventry[T any] struct {
	Ver     uint64 `json:"v"`
	Deleted bool   `json:"d,omitempty"`
	Val     T      `json:"r,omitzero"`
}

// vorigin is what one node knows of another node's entries.
type vorigin[T any] struct {
	Complete uint64
	Entries  map[string]ventry[T]
}

// vdelta is the broadcast of one change by its origin; with Name empty
// (and Entry.Deleted) it is a reset: the origin holds nothing at or below
// Entry.Ver but what it says later (what a node says when it starts, so
// that the entries of its previous run vanish at once).
type vdelta[T any] struct {
	Origin string    `json:"o"`
	Name   string    `json:"n,omitempty"`
	Entry  ventry[T] `json:"e"`
}

// vsnap is one origin in a full-state sync.
type vsnap[T any] struct {
	Origin   string               `json:"o"`
	Complete uint64               `json:"c"`
	Entries  map[string]ventry[T] `json:"r,omitempty"`
}

type goneNode struct {
	ver uint64
	at  time.Time
}

func newVmap[T any](self string, now time.Time, clone func(T) T) *vmap[T] {
	if clone == nil {
		clone = func(v T) T { return v }
	}
	c := uint64(now.UnixNano())
	return &vmap[T]{
		self:    self,
		start:   c,
		counter: c,
		own:     map[string]T{},
		ownVer:  map[string]uint64{},
		others:  map[string]*vorigin[T]{},
		clone:   clone,
		gone:    map[string]goneNode{},
	}
}

// set records a local change and returns the delta to broadcast.
func (m *vmap[T]) set(name string, v T) vdelta[T] {
	m.counter++
	v = m.clone(v)
	m.own[name] = v
	m.ownVer[name] = m.counter
	return vdelta[T]{Origin: m.self, Name: name, Entry: ventry[T]{Ver: m.counter, Val: m.clone(v)}}
}

// remove records a local deletion and returns the delta to broadcast.
func (m *vmap[T]) remove(name string) (vdelta[T], bool) {
	if _, ok := m.own[name]; !ok {
		return vdelta[T]{}, false
	}
	m.counter++
	delete(m.own, name)
	delete(m.ownVer, name)
	return vdelta[T]{Origin: m.self, Name: name, Entry: ventry[T]{Ver: m.counter, Deleted: true}}, true
}

// reset returns this process's first word: nothing of ours at or below the
// counter we started with is valid.
func (m *vmap[T]) reset() vdelta[T] {
	return vdelta[T]{Origin: m.self, Entry: ventry[T]{Ver: m.start, Deleted: true}}
}

// ownValue returns our own entry.
func (m *vmap[T]) ownValue(name string) (T, bool) {
	v, ok := m.own[name]
	return v, ok
}

// lookup returns origin's live entry name (ours when origin is us).
func (m *vmap[T]) lookup(origin, name string) (T, bool) {
	if origin == m.self {
		return m.ownValue(name)
	}
	var zero T
	o := m.others[origin]
	if o == nil {
		return zero, false
	}
	e, ok := o.Entries[name]
	if !ok || e.Deleted {
		return zero, false
	}
	return e.Val, true
}

// each calls fn for every live entry of origin (ours when origin is us).
func (m *vmap[T]) each(origin string, fn func(name string, v T)) {
	if origin == m.self {
		for name, v := range m.own {
			fn(name, v)
		}
		return
	}
	o := m.others[origin]
	if o == nil {
		return
	}
	for name, e := range o.Entries {
		if !e.Deleted {
			fn(name, e.Val)
		}
	}
}

// origins calls fn for every origin we hold entries of, ourselves included.
func (m *vmap[T]) origins(fn func(origin string)) {
	fn(m.self)
	for o := range m.others {
		fn(o)
	}
}

// refute handles a copy of our own entries that claims a version above
// ours (we restarted and the clock went back): it moves our counter
// past it and returns deltas that restate every entry we have and delete
// every entry the copy has that we do not.
func (m *vmap[T]) refute(claimed uint64, theirs map[string]ventry[T]) []vdelta[T] {
	if claimed <= m.counter || claimed > math.MaxUint64/2 {
		// Not newer (our own change coming back to us is not news), or
		// absurd (a counter is nanoseconds + changes).
		return nil
	}
	m.counter = claimed
	var out []vdelta[T]
	for name, v := range m.own {
		m.counter++
		m.ownVer[name] = m.counter
		out = append(out, vdelta[T]{Origin: m.self, Name: name, Entry: ventry[T]{Ver: m.counter, Val: m.clone(v)}})
	}
	for name, e := range theirs {
		if _, ok := m.own[name]; !ok && !e.Deleted {
			m.counter++
			out = append(out, vdelta[T]{Origin: m.self, Name: name, Entry: ventry[T]{Ver: m.counter, Deleted: true}})
		}
	}
	return out
}

// apply merges a delta from another node. It returns refutation deltas when
// the delta is about ourselves, and whether anything changed (the delta is
// news, to pass on).
func (m *vmap[T]) apply(d vdelta[T]) (refute []vdelta[T], changed bool) {
	if d.Name == "" {
		if !d.Entry.Deleted {
			return nil, false
		}
		before := m.completeAt(d.Origin)
		refute, news := m.merge([]vsnap[T]{{Origin: d.Origin, Complete: d.Entry.Ver}})
		return refute, d.Origin != m.self && (len(news) > 0 || m.completeAt(d.Origin) > before)
	}
	if d.Origin == m.self {
		if d.Entry.Ver > m.counter {
			return m.refute(d.Entry.Ver, map[string]ventry[T]{d.Name: d.Entry}), false
		}
		return nil, false
	}
	if g, ok := m.gone[d.Origin]; ok && d.Entry.Ver <= g.ver {
		return nil, false
	}
	o := m.origin(d.Origin)
	cur, ok := o.Entries[d.Name]
	if ok && cur.Ver >= d.Entry.Ver {
		return nil, false
	}
	if !ok && d.Entry.Ver <= o.Complete {
		return nil, false // older than what we know completely: superseded
	}
	if ok && cur.Deleted && d.Entry.Deleted {
		cur.Ver = d.Entry.Ver
		o.Entries[d.Name] = cur
		return nil, false
	}
	e := d.Entry
	e.Val = m.clone(e.Val)
	o.Entries[d.Name] = e
	if e.Ver == o.Complete+1 {
		o.Complete = e.Ver
	}
	o.compact()
	return nil, true
}

func (m *vmap[T]) completeAt(origin string) uint64 {
	if o := m.others[origin]; o != nil {
		return o.Complete
	}
	return 0
}

func (m *vmap[T]) origin(node string) *vorigin[T] {
	o := m.others[node]
	if o == nil {
		o = &vorigin[T]{Entries: map[string]ventry[T]{}}
		m.others[node] = o
	}
	return o
}

// compact drops tombstones that Complete covers.
func (o *vorigin[T]) compact() {
	for name, e := range o.Entries {
		if e.Deleted && e.Ver <= o.Complete {
			delete(o.Entries, name)
		}
	}
}

// snapshot returns the full state for a push/pull: our own entries complete
// at our counter, and our copies of the origins keep accepts (all when
// nil).
func (m *vmap[T]) snapshot(keep func(origin string) bool) []vsnap[T] {
	out := make([]vsnap[T], 0, len(m.others)+1)
	own := make(map[string]ventry[T], len(m.own))
	for name, v := range m.own {
		own[name] = ventry[T]{Ver: m.ownVer[name], Val: m.clone(v)}
	}
	// The copy is complete at our counter. Each entry keeps the version of
	// its last change, so that a receiver that has it already finds
	// nothing new (a snapshot that stamped every entry with the counter
	// would make each push/pull restate the whole map as news, and every
	// relayer broadcast it again into the other pool).
	out = append(out, vsnap[T]{Origin: m.self, Complete: m.counter, Entries: own})
	for node, o := range m.others {
		if keep != nil && !keep(node) {
			continue
		}
		es := maps.Clone(o.Entries)
		for name, e := range es {
			e.Val = m.clone(e.Val)
			es[name] = e
		}
		out = append(out, vsnap[T]{Origin: node, Complete: o.Complete, Entries: es})
	}
	return out
}

// merge folds a remote full state into ours. It returns refutation deltas
// (when the remote holds a newer copy of our own entries than we do) and
// the news, as deltas that someone who has what we had before would need
// (entries taken, and tombstones for entries the remote's Complete
// removed).
func (m *vmap[T]) merge(remote []vsnap[T]) (refute, news []vdelta[T]) {
	for _, ro := range remote {
		if ro.Origin == "" {
			continue
		}
		if ro.Origin == m.self {
			refute = append(refute, m.refute(maxVer(ro), ro.Entries)...)
			continue
		}
		if g, ok := m.gone[ro.Origin]; ok && maxVer(ro) <= g.ver {
			continue
		}
		o := m.origin(ro.Origin)
		for name, re := range ro.Entries {
			cur, ok := o.Entries[name]
			switch {
			case ok && cur.Ver >= re.Ver:
			case !ok && re.Ver <= o.Complete:
				// We know the origin completely past this version and the
				// entry is not there: it was deleted since.
			default:
				re.Val = m.clone(re.Val)
				o.Entries[name] = re
				if !re.Deleted || (ok && !cur.Deleted) {
					news = append(news, vdelta[T]{Origin: ro.Origin, Name: name, Entry: ventry[T]{Ver: re.Ver, Deleted: re.Deleted, Val: m.clone(re.Val)}})
				}
			}
		}
		for name, cur := range o.Entries {
			if _, ok := ro.Entries[name]; !ok && cur.Ver <= ro.Complete {
				delete(o.Entries, name)
				if !cur.Deleted {
					news = append(news, vdelta[T]{Origin: ro.Origin, Name: name, Entry: ventry[T]{Ver: ro.Complete, Deleted: true}})
				}
			}
		}
		o.Complete = max(o.Complete, ro.Complete)
		o.compact()
	}
	return refute, news
}

func maxVer[T any](o vsnap[T]) uint64 {
	v := o.Complete
	for _, e := range o.Entries {
		v = max(v, e.Ver)
	}
	return v
}

// drop forgets a failed or departed node's entries and keeps a marker so
// that stale copies do not bring them back.
func (m *vmap[T]) drop(node string, now time.Time) {
	if node == m.self {
		return
	}
	var v uint64
	if o := m.others[node]; o != nil {
		v = o.Complete
		for _, e := range o.Entries {
			v = max(v, e.Ver)
		}
	}
	delete(m.others, node)
	if g, ok := m.gone[node]; !ok || g.ver < v {
		m.gone[node] = goneNode{ver: v, at: now}
	}
}

// forget drops an origin's entries without a marker (an origin out of sight
// for long).
func (m *vmap[T]) forget(node string) { delete(m.others, node) }

// revive lets a node that is alive again announce entries.
func (m *vmap[T]) revive(node string) { delete(m.gone, node) }

// expire forgets gone-markers older than ttl.
func (m *vmap[T]) expire(now time.Time, ttl time.Duration) {
	for node, g := range m.gone {
		if now.Sub(g.at) > ttl {
			delete(m.gone, node)
		}
	}
}
