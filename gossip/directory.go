package gossip

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Track is one track an edge publishes, or relays, in a room.
type Track struct {
	SID         string `json:"s"`
	Participant string `json:"p,omitempty"`
	Kind        string `json:"k,omitempty"` // "audio" or "video"
	// Origin is empty when the track's publisher is connected to the edge
	// that announces it. An edge that carries a relayed copy of another
	// edge's track announces it with Origin set to that edge's node id, so
	// that an edge of its region can pull the copy rather than cross the
	// inter-region link a second time.
	Origin string `json:"o,omitempty"`
}

// Room is what an edge announces about a room it hosts. Participants
// counts the participants connected to that edge only (a room's size is
// the sum over its hosts).
type Room struct {
	Participants int     `json:"n,omitempty"`
	Tracks       []Track `json:"t,omitempty"`
}

// RoomHost is one edge hosting a room.
type RoomHost struct {
	NodeID string
	Room   Room
}

// Publisher is one participant's tracks and the edge they are published on.
type Publisher struct {
	Identity string
	// NodeID is the edge the participant publishes on: the origin of its
	// tracks.
	NodeID string
	Region string
	Tracks []Track
}

// TrackSource is an edge a track can be pulled from.
type TrackSource struct {
	NodeID string
	Region string
	// Track.Origin is empty for the edge the track is published on, and
	// names that edge for an edge that carries a relayed copy.
	Track Track
}

// dirValue is one entry of the directory. Under a room's name it is the
// room's header (Participants); under pubKey(room, identity) it is one
// publisher's tracks. Splitting a room by publisher keeps every change small
// enough for one gossip packet, whatever the size of the room.
type dirValue struct {
	Participants int     `json:"n,omitempty"`
	Tracks       []Track `json:"t,omitempty"`
}

func cloneDirValue(v dirValue) dirValue {
	v.Tracks = slices.Clone(v.Tracks)
	return v
}

// dirDelta and dirOrigin are the directory's broadcast and full-state forms.
type (
	dirDelta  = vdelta[dirValue]
	dirOrigin = vsnap[dirValue]
)

// keySep separates a room from a publisher's identity in a key; room names
// cannot contain it.
const keySep = "\x00"

func pubKey(room, identity string) string { return room + keySep + identity }

// splitKey returns a key's room, and the identity when it is a publisher's.
func splitKey(k string) (room, identity string, pub bool) {
	return strings.Cut(k, keySep)
}

// directory is the replicated room directory. Not safe for concurrent use.
type directory struct {
	*vmap[dirValue]
}

func newDirectory(self string, now time.Time) *directory {
	return &directory{newVmap(self, now, cloneDirValue)}
}

// setRoom records what we host of room and returns the deltas to
// broadcast: the header when it is new or changed, and the publishers
// whose tracks changed, appeared or went.
func (d *directory) setRoom(room string, r Room) []dirDelta {
	if room == "" || strings.Contains(room, keySep) {
		return nil
	}
	var out []dirDelta
	head := dirValue{Participants: r.Participants}
	if cur, ok := d.own[room]; !ok || cur.Participants != head.Participants {
		out = append(out, d.set(room, head))
	}
	by := map[string][]Track{}
	for _, t := range r.Tracks {
		by[t.Participant] = append(by[t.Participant], t)
	}
	for id, ts := range by {
		slices.SortFunc(ts, func(a, b Track) int { return cmp.Compare(a.SID, b.SID) })
		k := pubKey(room, id)
		if cur, ok := d.own[k]; ok && slices.Equal(cur.Tracks, ts) {
			continue
		}
		out = append(out, d.set(k, dirValue{Tracks: ts}))
	}
	for k := range d.own {
		if rm, id, pub := splitKey(k); pub && rm == room {
			if _, ok := by[id]; !ok {
				if del, ok := d.remove(k); ok {
					out = append(out, del)
				}
			}
		}
	}
	return out
}

// removeRoom records that we no longer host room.
func (d *directory) removeRoom(room string) []dirDelta {
	var out []dirDelta
	for k := range d.own {
		if rm, _, _ := splitKey(k); rm == room {
			if del, ok := d.remove(k); ok {
				out = append(out, del)
			}
		}
	}
	return out
}

// hosts returns the nodes alive says are up that host room.
func (d *directory) hosts(room string, alive func(node string) bool) []RoomHost {
	var out []RoomHost
	d.origins(func(node string) {
		if !alive(node) {
			return
		}
		var r Room
		found := false
		d.each(node, func(k string, v dirValue) {
			rm, _, pub := splitKey(k)
			if rm != room {
				return
			}
			found = true
			if pub {
				r.Tracks = append(r.Tracks, v.Tracks...)
			} else {
				r.Participants = v.Participants
			}
		})
		if found {
			slices.SortFunc(r.Tracks, func(a, b Track) int { return cmp.Compare(a.SID, b.SID) })
			out = append(out, RoomHost{NodeID: node, Room: r})
		}
	})
	slices.SortFunc(out, func(a, b RoomHost) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}

// rooms returns the rooms of the nodes alive says are up: node → room →
// Room.
func (d *directory) rooms(alive func(node string) bool) map[string]map[string]Room {
	out := map[string]map[string]Room{}
	d.origins(func(node string) {
		if !alive(node) {
			return
		}
		d.each(node, func(k string, v dirValue) {
			rm, _, pub := splitKey(k)
			if out[node] == nil {
				out[node] = map[string]Room{}
			}
			r := out[node][rm]
			if pub {
				r.Tracks = append(r.Tracks, slices.Clone(v.Tracks)...)
			} else {
				r.Participants = v.Participants
			}
			out[node][rm] = r
		})
	})
	for _, rs := range out {
		for name, r := range rs {
			slices.SortFunc(r.Tracks, func(a, b Track) int { return cmp.Compare(a.SID, b.SID) })
			rs[name] = r
		}
	}
	return out
}

// publishers groups the tracks of room's hosts by publisher, origins only.
func publishers(hosts []RoomHost, region func(node string) string) []Publisher {
	type key struct{ node, id string }
	by := map[key]*Publisher{}
	for _, h := range hosts {
		for _, t := range h.Room.Tracks {
			if t.Origin != "" {
				continue
			}
			k := key{h.NodeID, t.Participant}
			p := by[k]
			if p == nil {
				p = &Publisher{Identity: t.Participant, NodeID: h.NodeID, Region: region(h.NodeID)}
				by[k] = p
			}
			p.Tracks = append(p.Tracks, t)
		}
	}
	out := make([]Publisher, 0, len(by))
	for _, p := range by {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Publisher) int {
		return cmp.Or(cmp.Compare(a.Identity, b.Identity), cmp.Compare(a.NodeID, b.NodeID))
	})
	return out
}

// trackSources lists the edges that have track sid of room: the origin
// first, then the relayed copies whose origin is alive, by node id.
func trackSources(hosts []RoomHost, sid string, alive func(node string) bool, region func(node string) string) []TrackSource {
	var origin, copies []TrackSource
	for _, h := range hosts {
		for _, t := range h.Room.Tracks {
			if t.SID != sid {
				continue
			}
			s := TrackSource{NodeID: h.NodeID, Region: region(h.NodeID), Track: t}
			switch {
			case t.Origin == "":
				origin = append(origin, s)
			case t.Origin != h.NodeID && alive(t.Origin):
				copies = append(copies, s)
			}
		}
	}
	return append(origin, copies...)
}
