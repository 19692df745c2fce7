package gossip

import (
	"maps"
	"math"
	"slices"
	"time"
)

// Track is one track an edge publishes in a room.
type Track struct {
	SID         string `json:"s"`
	Participant string `json:"p,omitempty"`
	Kind        string `json:"k,omitempty"` // "audio" or "video"
}

// Room is what an edge announces about a room it hosts.
type Room struct {
	Participants int     `json:"n,omitempty"`
	Tracks       []Track `json:"t,omitempty"`
}

// RoomHost is one edge hosting a room.
type RoomHost struct {
	NodeID string
	Room   Room
}

// roomEntry is one (origin node, room) pair. Ver is the origin's counter
// when it last changed the room; a deleted room stays as a tombstone until
// the origin's complete version covers it.
type roomEntry struct {
	Ver     uint64 `json:"v"`
	Deleted bool   `json:"d,omitempty"`
	Room    Room   `json:"r,omitzero"`
}

// origin is what one node knows of another node's rooms. Complete is the
// origin's version up to which this copy misses nothing: a room absent from
// the copy with a version at or below Complete does not exist.
type origin struct {
	Complete uint64
	Rooms    map[string]roomEntry
}

// dirDelta is the broadcast of one room change by its origin.
type dirDelta struct {
	Node  string    `json:"o"`
	Name  string    `json:"n"`
	Entry roomEntry `json:"e"`
}

// dirOrigin is one origin in a full-state sync.
type dirOrigin struct {
	Node     string               `json:"o"`
	Complete uint64               `json:"c"`
	Rooms    map[string]roomEntry `json:"r,omitempty"`
}

// directory is the replicated room directory. It is not safe for concurrent
// use: Node guards it with its mutex.
//
// Every node is the only writer of its own rooms and versions them with a
// counter that starts at the wall clock in nanoseconds (so a restarted node
// starts above everything it said before) and increases by one per change.
// Copies merge entry by entry, higher version wins; Complete lets a copy
// drop rooms that the origin deleted while the copy missed the deletion.
type directory struct {
	self    string
	counter uint64
	own     map[string]Room
	others  map[string]*origin
	// gone holds the version at which a failed or departed node's rooms were
	// dropped, so stale copies relayed by slower nodes do not bring them
	// back. Cleared when the node is seen alive again.
	gone map[string]goneNode
}

type goneNode struct {
	ver uint64
	at  time.Time
}

func newDirectory(self string, now time.Time) *directory {
	return &directory{
		self:    self,
		counter: uint64(now.UnixNano()),
		own:     map[string]Room{},
		others:  map[string]*origin{},
		gone:    map[string]goneNode{},
	}
}

// set records a local change and returns the delta to broadcast.
func (d *directory) set(name string, r Room) dirDelta {
	d.counter++
	r.Tracks = slices.Clone(r.Tracks)
	d.own[name] = r
	return dirDelta{Node: d.self, Name: name, Entry: roomEntry{Ver: d.counter, Room: r}}
}

// remove records a local deletion and returns the delta to broadcast.
func (d *directory) remove(name string) (dirDelta, bool) {
	if _, ok := d.own[name]; !ok {
		return dirDelta{}, false
	}
	d.counter++
	delete(d.own, name)
	return dirDelta{Node: d.self, Name: name, Entry: roomEntry{Ver: d.counter, Deleted: true}}, true
}

// refute handles a copy of our own rooms that claims a version at or above
// ours (we restarted and the clock went back): it moves our counter past it
// and returns deltas that restate every room we have and delete every room
// the copy has that we do not.
func (d *directory) refute(claimed uint64, theirRooms map[string]roomEntry) []dirDelta {
	if claimed < d.counter || claimed > math.MaxUint64/2 {
		return nil // not newer, or absurd (a counter is nanoseconds + changes)
	}
	d.counter = claimed
	var out []dirDelta
	for name, r := range d.own {
		d.counter++
		out = append(out, dirDelta{Node: d.self, Name: name, Entry: roomEntry{Ver: d.counter, Room: r}})
	}
	for name, e := range theirRooms {
		if _, ok := d.own[name]; !ok && !e.Deleted {
			d.counter++
			out = append(out, dirDelta{Node: d.self, Name: name, Entry: roomEntry{Ver: d.counter, Deleted: true}})
		}
	}
	return out
}

// apply merges a delta from another node. It returns refutation deltas when
// the delta is about ourselves, and whether anything changed.
func (d *directory) apply(m dirDelta) (refute []dirDelta, changed bool) {
	if m.Node == d.self {
		if m.Entry.Ver >= d.counter {
			return d.refute(m.Entry.Ver, map[string]roomEntry{m.Name: m.Entry}), false
		}
		return nil, false
	}
	if g, ok := d.gone[m.Node]; ok && m.Entry.Ver <= g.ver {
		return nil, false
	}
	o := d.others[m.Node]
	if o == nil {
		o = &origin{Rooms: map[string]roomEntry{}}
		d.others[m.Node] = o
	}
	cur, ok := o.Rooms[m.Name]
	if ok && cur.Ver >= m.Entry.Ver {
		return nil, false
	}
	if !ok && m.Entry.Ver <= o.Complete {
		return nil, false // older than what we know completely: superseded
	}
	o.Rooms[m.Name] = m.Entry
	if m.Entry.Ver == o.Complete+1 {
		o.Complete = m.Entry.Ver
	}
	o.compact()
	return nil, true
}

// compact drops tombstones that Complete covers.
func (o *origin) compact() {
	for name, e := range o.Rooms {
		if e.Deleted && e.Ver <= o.Complete {
			delete(o.Rooms, name)
		}
	}
}

// snapshot returns the full state for a push/pull: our own rooms complete at
// our counter, and our copies of everyone else's.
func (d *directory) snapshot() []dirOrigin {
	out := make([]dirOrigin, 0, len(d.others)+1)
	own := make(map[string]roomEntry, len(d.own))
	for name, r := range d.own {
		own[name] = roomEntry{Ver: d.counter, Room: r}
	}
	// Our own entries all carry the counter: the copy is complete at it, so
	// versions of individual rooms do not matter to the receiver.
	out = append(out, dirOrigin{Node: d.self, Complete: d.counter, Rooms: own})
	for node, o := range d.others {
		out = append(out, dirOrigin{Node: node, Complete: o.Complete, Rooms: maps.Clone(o.Rooms)})
	}
	return out
}

// merge folds a remote full state into ours. It returns refutation deltas
// (when the remote holds a newer copy of our own rooms than we do).
func (d *directory) merge(remote []dirOrigin) []dirDelta {
	var refute []dirDelta
	for _, ro := range remote {
		if ro.Node == d.self {
			refute = append(refute, d.refute(maxVer(ro), ro.Rooms)...)
			continue
		}
		if g, ok := d.gone[ro.Node]; ok && maxVer(ro) <= g.ver {
			continue
		}
		o := d.others[ro.Node]
		if o == nil {
			o = &origin{Rooms: map[string]roomEntry{}}
			d.others[ro.Node] = o
		}
		for name, re := range ro.Rooms {
			cur, ok := o.Rooms[name]
			switch {
			case ok && cur.Ver >= re.Ver:
			case !ok && re.Ver <= o.Complete:
				// We know the origin completely past this version and the
				// room is not there: it was deleted since.
			default:
				o.Rooms[name] = re
			}
		}
		for name, cur := range o.Rooms {
			if _, ok := ro.Rooms[name]; !ok && cur.Ver <= ro.Complete {
				delete(o.Rooms, name)
			}
		}
		o.Complete = max(o.Complete, ro.Complete)
		o.compact()
	}
	return refute
}

func maxVer(o dirOrigin) uint64 {
	v := o.Complete
	for _, e := range o.Rooms {
		v = max(v, e.Ver)
	}
	return v
}

// drop forgets a failed or departed node's rooms.
func (d *directory) drop(node string, now time.Time) {
	if node == d.self {
		return
	}
	var v uint64
	if o := d.others[node]; o != nil {
		v = o.Complete
		for _, e := range o.Rooms {
			v = max(v, e.Ver)
		}
	}
	delete(d.others, node)
	if g, ok := d.gone[node]; !ok || g.ver < v {
		d.gone[node] = goneNode{ver: v, at: now}
	}
}

// revive lets a node that is alive again announce rooms.
func (d *directory) revive(node string) { delete(d.gone, node) }

// expire forgets gone-markers older than ttl.
func (d *directory) expire(now time.Time, ttl time.Duration) {
	for node, g := range d.gone {
		if now.Sub(g.at) > ttl {
			delete(d.gone, node)
		}
	}
}

// hosts returns the nodes that host room (ourselves included).
func (d *directory) hosts(room string) []RoomHost {
	var out []RoomHost
	if r, ok := d.own[room]; ok {
		out = append(out, RoomHost{NodeID: d.self, Room: cloneRoom(r)})
	}
	for node, o := range d.others {
		if e, ok := o.Rooms[room]; ok && !e.Deleted {
			out = append(out, RoomHost{NodeID: node, Room: cloneRoom(e.Room)})
		}
	}
	slices.SortFunc(out, func(a, b RoomHost) int {
		switch {
		case a.NodeID < b.NodeID:
			return -1
		case a.NodeID > b.NodeID:
			return 1
		}
		return 0
	})
	return out
}

// rooms returns every node's rooms: node → room → Room.
func (d *directory) rooms() map[string]map[string]Room {
	out := map[string]map[string]Room{}
	if len(d.own) > 0 {
		own := map[string]Room{}
		for name, r := range d.own {
			own[name] = cloneRoom(r)
		}
		out[d.self] = own
	}
	for node, o := range d.others {
		for name, e := range o.Rooms {
			if e.Deleted {
				continue
			}
			if out[node] == nil {
				out[node] = map[string]Room{}
			}
			out[node][name] = cloneRoom(e.Room)
		}
	}
	return out
}

func cloneRoom(r Room) Room {
	r.Tracks = slices.Clone(r.Tracks)
	return r
}
