package placement

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ErrInvalid marks an unusable placement policy.
var ErrInvalid = errors.New("placement: invalid policy")

// Edge is one edge of a fleet snapshot, as placement sees it.
type Edge struct {
	NodeID    string
	Region    string
	SignalURL string
	TURNURLs  []string
	// Draining edges (and leaving ones) take no new participants.
	Draining bool
	// Participants is the edge's current count; MaxParticipants its
	// capacity (0: unlimited).
	Participants    int
	MaxParticipants int
	// CPU is the CPU use in percent.
	CPU float64
}

// Full reports whether the edge cannot take one more participant.
func (e Edge) Full() bool {
	return e.MaxParticipants > 0 && e.Participants >= e.MaxParticipants
}

// usable reports whether the edge may get a new participant. A snapshot
// holds only alive edges: dead ones are not in it.
func (e Edge) usable() bool {
	return e.SignalURL != "" && e.Region != "" && !e.Draining && !e.Full()
}

// utilisation is the load that orders edges: the higher of participant
// fill and CPU.
func (e Edge) utilisation() float64 {
	u := e.CPU / 100
	if e.MaxParticipants > 0 {
		u = max(u, float64(e.Participants)/float64(e.MaxParticipants))
	}
	return u
}

// Fleet is a snapshot: the alive edges and, for the room being joined, the
// edges that already host it.
type Fleet struct {
	Edges []Edge
	// RoomHosts are the node ids of edges hosting the room, with their
	// participant count in it.
	RoomHosts map[string]int
}

// CIDRRegion maps client addresses to a region.
type CIDRRegion struct {
	Prefix netip.Prefix `yaml:"prefix"`
	Region string       `yaml:"region"`
}

// Policy is the `placement:` section: how a region is picked when the
// client gave neither a usable hint nor RTTs.
type Policy struct {
	// DefaultRegion is used when nothing else decides.
	DefaultRegion string `yaml:"defaultRegion"`
	// CIDRs map client source prefixes to regions; the longest match wins.
	CIDRs []CIDRRegion `yaml:"cidrs"`
	// RecentWindow is how long this replica remembers its own placements
	// while the fleet's gossiped load and room directory catch up (default
	// 10 s, twice the LAN load interval): a join storm is spread over the
	// region's edges instead of piling onto the one that looked idlest, and
	// a room's second participant follows its first before the directory
	// says where that one went.
	RecentWindow time.Duration `yaml:"recentWindow"`
}

// Validate checks the policy.
func (p Policy) Validate() error {
	if p.RecentWindow < 0 {
		return fmt.Errorf("%w: recentWindow %s is negative", ErrInvalid, p.RecentWindow)
	}
	for i, c := range p.CIDRs {
		if !c.Prefix.IsValid() || c.Region == "" {
			return fmt.Errorf("%w: cidrs[%d]: want a prefix and a region", ErrInvalid, i)
		}
	}
	return nil
}

// Choose places a participant on fleet. It is pure: the same inputs always
// give the same edge.
//
// The region is, in order: the client's explicit hint; else the region with
// the lowest RTT the client measured, among regions with a usable edge; else
// the region of the longest CIDR match of the client's address; else the
// default region. If that region has no usable edge (all draining, full or
// dead), the participant goes to the region with the next lowest measured
// RTT that has one, else the default region, else the least utilised usable
// edge of any region: a participant on a far edge is better than no call.
//
// Within the region: an edge that already hosts the room (sticky rooms: one
// room lives on one edge per region; if several do, the one with most of
// the room's participants) unless it is full or draining; else the least
// utilised edge (participants/capacity or CPU, whichever is higher; ties by
// node id).
func Choose(p Policy, f Fleet, req Request) (Placement, error) {
	byRegion := map[string][]Edge{}
	for _, e := range f.Edges {
		if e.usable() {
			byRegion[e.Region] = append(byRegion[e.Region], e)
		}
	}
	if len(byRegion) == 0 {
		return Placement{}, ErrNoEdge
	}
	for _, c := range regionOrder(p, req, byRegion) {
		if edges := byRegion[c.region]; len(edges) > 0 {
			pl := placementOf(pickEdge(edges, f.RoomHosts))
			pl.Reason = c.reason
			return pl, nil
		}
	}
	// No preferred region has a usable edge: the least utilised anywhere.
	var all []Edge
	for _, edges := range byRegion {
		all = append(all, edges...)
	}
	pl := placementOf(pickEdge(all, f.RoomHosts))
	pl.Reason = ReasonAny
	return pl, nil
}

// regionChoice is a region to try and why.
type regionChoice struct {
	region, reason string
}

// regionOrder lists the regions to try, best first.
func regionOrder(p Policy, req Request, live map[string][]Edge) []regionChoice {
	var order []regionChoice
	if req.RegionHint != "" {
		order = append(order, regionChoice{req.RegionHint, ReasonHint})
	}
	// RTTs to live regions, lowest first (ties by name).
	type rtt struct {
		region string
		d      time.Duration
	}
	var rtts []rtt
	for r, d := range req.RTTs {
		if _, ok := live[r]; ok && d > 0 {
			rtts = append(rtts, rtt{r, d})
		}
	}
	slices.SortFunc(rtts, func(a, b rtt) int {
		return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.region, b.region))
	})
	if len(rtts) > 0 {
		order = append(order, regionChoice{rtts[0].region, ReasonRTT})
	}
	if len(rtts) == 0 {
		if r, ok := cidrRegion(p.CIDRs, req.ClientAddr); ok {
			order = append(order, regionChoice{r, ReasonCIDR})
		}
	}
	if p.DefaultRegion != "" {
		order = append(order, regionChoice{p.DefaultRegion, ReasonDefault})
	}
	// Fallbacks by RTT come before the generic fallback.
	for _, r := range rtts[min(1, len(rtts)):] {
		order = append(order, regionChoice{r.region, ReasonRTT})
	}
	return order
}

func cidrRegion(cidrs []CIDRRegion, addr netip.Addr) (string, bool) {
	if !addr.IsValid() {
		return "", false
	}
	addr = addr.Unmap()
	best, bits := "", -1
	for _, c := range cidrs {
		if c.Prefix.Contains(addr) && c.Prefix.Bits() > bits {
			best, bits = c.Region, c.Prefix.Bits()
		}
	}
	return best, bits >= 0
}

// pickEdge picks among usable edges of one region.
func pickEdge(edges []Edge, hosts map[string]int) Edge {
	var sticky []Edge
	for _, e := range edges {
		if _, ok := hosts[e.NodeID]; ok {
			sticky = append(sticky, e)
		}
	}
	if len(sticky) > 0 {
		return slices.MinFunc(sticky, func(a, b Edge) int {
			return cmp.Or(cmp.Compare(hosts[b.NodeID], hosts[a.NodeID]), cmp.Compare(a.NodeID, b.NodeID))
		})
	}
	return slices.MinFunc(edges, func(a, b Edge) int {
		return cmp.Or(cmp.Compare(a.utilisation(), b.utilisation()),
			cmp.Compare(a.Participants, b.Participants), cmp.Compare(a.NodeID, b.NodeID))
	})
}

func placementOf(e Edge) Placement {
	return Placement{NodeID: e.NodeID, Region: e.Region, SignalURL: e.SignalURL, TURNURLs: slices.Clone(e.TURNURLs)}
}
