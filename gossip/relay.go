package gossip

import (
	"net/netip"
	"slices"
	"time"
)

// How a node sees the nodes of other regions.
//
// A node is a member of its region's pool (LAN) only; a few nodes of every
// region are also members of the WAN pool: they are the region's relayers
// (Meta.WAN). Each relayer publishes a listing, a replicated map (vmap) of
// which it is the only writer:
//
//   - the nodes of its region's pool, alive or gone, as its LAN sees them
//     (listValue.WAN false): what the other regions need;
//   - the WAN members of other regions, alive or gone, as its WAN pool
//     sees them (listValue.WAN true): what the nodes of its own region need
//     to know which of those relayers the WAN pool still vouches for.
//
// Besides, the relayers put the metadata of their region's nodes into the
// WAN pool as records, versioned by the node's own metadata sequence
// number, so that copies from several relayers never disagree for long and
// an old copy never replaces a newer one. Listings, records, room directory
// entries and revocations are forwarded between the pools by the relayers,
// each only when it is news to them (a higher version, or a revocation that
// bars more), so nothing loops.
//
// From this every node computes the same view (relayedView): a node X of
// another region is alive when a relayer of X's region lists X alive and
// that relayer is vouched for, in the WAN pool, by a relayer of our region
// (or by us). A node of another region is thus declared dead by its own
// region's pool, whose timing is fast and unaffected by WAN delay, or when
// the WAN pool's verdict leaves no relayer of its region vouched for
// (a region cut off); never by our region's LAN timing.
//
// One more rule keeps a crashed relayer from vouching for itself until the
// WAN pool's slower verdict: a relayer W is not trusted when another
// vouched relayer of its region lists W as gone while W does not list that
// one as gone (a crash, as opposed to a partition inside the region, where
// both say so of each other and both are kept).

// listValue is one line of a relayer's listing.
type listValue struct {
	// Alive is false for a node the relayer saw fail or leave.
	Alive bool `json:"a,omitempty"`
	// WAN marks a node of another region seen in the WAN pool; otherwise
	// the node is in the relayer's region pool.
	WAN bool `json:"w,omitempty"`
}

type (
	listDelta  = vdelta[listValue]
	listOrigin = vsnap[listValue]
)

// record is a node's metadata as it travels between regions.
type record struct {
	ID string `json:"i"`
	// Addr is the node's region-pool gossip address.
	Addr string `json:"a,omitempty"`
	Meta []byte `json:"m"`
}

// remoteNode is what a node holds of another region's node.
type remoteNode struct {
	rec    record
	seq    uint64
	member Member
	seen   time.Time // last time it was in the view (or arrived)
}

// newRemoteNode decodes a record; ok is false when it cannot be used.
func newRemoteNode(r record, urls *urlPolicy, now time.Time) (*remoteNode, bool) {
	if r.ID == "" {
		return nil, false
	}
	m := Member{State: StateAlive}
	var seq uint64
	m.Meta, seq, m.MetaErr = decodeMetaSeq(r.Meta)
	if m.MetaErr == nil {
		m.MetaErr = urls.check(m.Meta)
	}
	if m.MetaErr != nil || m.Meta.NodeID != r.ID {
		m.Meta.NodeID = r.ID
	}
	if a, err := netip.ParseAddrPort(r.Addr); err == nil {
		m.Addr = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	return &remoteNode{rec: r, seq: seq, member: m, seen: now}, true
}

// remoteTTL is how long a node keeps what it learnt of another region's node
// (its record, its room directory entries, its listing) after the node last
// was in its view, and how long a relayer keeps a departed node in its
// listing: far longer than any WAN verdict takes.
const remoteTTL = 10 * time.Minute

// viewInput is what relayedView reads.
type viewInput struct {
	self string
	// selfRelays is set when this node is a relayer (its own listing then
	// counts as a local relayer's).
	selfRelays bool
	// lan is this node's region pool, self included.
	lan   map[string]Member
	lists *vmap[listValue]
	nodes map[string]*remoteNode
}

// relayedView returns the alive nodes of other regions, and the origins of
// the listings it relied on.
func relayedView(in viewInput) (view map[string]*remoteNode, used []string) {
	// The relayers of our region.
	var local []string
	for id, m := range in.lan {
		if id != in.self && m.MetaErr == nil && m.Meta.WAN && !m.Meta.Leaving {
			local = append(local, id)
		}
	}
	if in.selfRelays {
		local = append(local, in.self)
	}
	slices.Sort(local)
	// The relayers of other regions that one of ours sees in the WAN pool.
	vouched := map[string]bool{}
	for _, v := range local {
		in.lists.each(v, func(id string, l listValue) {
			if l.WAN && l.Alive {
				if _, inLAN := in.lan[id]; !inLAN {
					vouched[id] = true
				}
			}
		})
	}
	gone := func(by, of string) bool {
		l, ok := in.lists.lookup(by, of)
		return ok && !l.WAN && !l.Alive
	}
	trusted := make([]string, 0, len(vouched))
	for w := range vouched {
		crashed := false
		for w2 := range vouched {
			if w2 != w && gone(w2, w) && !gone(w, w2) {
				crashed = true
				break
			}
		}
		if !crashed {
			trusted = append(trusted, w)
		}
	}
	slices.Sort(trusted)
	for w := range vouched {
		used = append(used, w)
	}
	view = map[string]*remoteNode{}
	for _, w := range trusted {
		in.lists.each(w, func(id string, l listValue) {
			if l.WAN || !l.Alive {
				return
			}
			if _, inLAN := in.lan[id]; inLAN {
				return
			}
			if rn := in.nodes[id]; rn != nil {
				view[id] = rn
			}
		})
	}
	return view, append(used, local...)
}

// routes says which pools a piece of news goes to. from is the pool it came
// from (poolNone: made here); merged is set for news learnt from a
// full-state sync, which the pool it came from spreads by its own
// anti-entropy; lanOwned is set when the news is about this node's region
// (its pool gossips it by itself, the other regions need it from us).
func routes(from poolKind, merged, lanOwned, relaying bool) (toLAN, toWAN bool) {
	toLAN = !(merged && from == poolLAN) && !(from == poolWAN && lanOwned)
	toWAN = relaying && !(merged && from == poolWAN) && (lanOwned || from == poolWAN)
	return toLAN, toWAN
}
