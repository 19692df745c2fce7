package placement

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spacecast/spacecast/gossip"
)

// FleetView is what the Gossip placer reads; *gossip.Node implements it.
type FleetView interface {
	// Nodes returns the alive members.
	Nodes() []gossip.Member
	// Hosts returns the alive nodes hosting a room.
	Hosts(room string) []gossip.RoomHost
}

var _ FleetView = (*gossip.Node)(nil)

// Gossip places participants over the fleet a gossip node sees. Every
// control-plane replica runs its own gossip node and so sees the same fleet
// (give or take the convergence time).
type Gossip struct {
	view   FleetView
	policy Policy
	recent *recent
}

var _ Placer = (*Gossip)(nil)

// NewGossip builds a placer over view with policy.
func NewGossip(view FleetView, policy Policy) (*Gossip, error) {
	if view == nil {
		return nil, fmt.Errorf("%w: no fleet view", ErrInvalid)
	}
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	w := policy.RecentWindow
	if w == 0 {
		w = 10 * time.Second
	}
	return &Gossip{view: view, policy: policy, recent: newRecent(w, time.Now)}, nil
}

// Place implements Placer. The room directory is keyed by RoomID (the room
// name in media tokens), falling back to the alias.
func (g *Gossip) Place(ctx context.Context, req Request) (Placement, error) {
	if err := ctx.Err(); err != nil {
		return Placement{}, err
	}
	room := req.RoomID
	if room == "" {
		room = req.RoomAlias
	}
	f := FleetOf(g.view.Nodes(), g.view.Hosts(room))
	return g.recent.place(room, f, func(f Fleet) (Placement, error) { return Choose(g.policy, f, req) })
}

// FleetOf converts a gossip snapshot to a placement Fleet: edges only,
// members with unreadable metadata skipped, draining and leaving nodes
// marked draining.
func FleetOf(members []gossip.Member, hosts []gossip.RoomHost) Fleet {
	f := Fleet{RoomHosts: make(map[string]int, len(hosts))}
	for _, m := range members {
		if m.MetaErr != nil || m.State != gossip.StateAlive || m.Meta.Role != gossip.RoleEdge {
			continue
		}
		f.Edges = append(f.Edges, Edge{
			NodeID:          m.Meta.NodeID,
			Region:          m.Meta.Region,
			SignalURL:       m.Meta.SignalURL,
			TURNURLs:        slices.Clone(m.Meta.TURNURLs),
			Draining:        m.Meta.Draining || m.Meta.Leaving,
			Participants:    m.Meta.Load.Participants,
			MaxParticipants: m.Meta.MaxParticipants,
			CPU:             m.Meta.Load.CPU,
		})
	}
	for _, h := range hosts {
		f.RoomHosts[h.NodeID] = h.Room.Participants
	}
	return f
}

// Region is one entry of the region list clients probe.
type Region struct {
	Name string `json:"name"`
	// ProbeURLs are the probe URLs of the region's usable edges (sorted);
	// a client measures one (any) and reports the RTT per region name.
	ProbeURLs []string `json:"probeUrls"`
}

// Regions returns the regions that have a usable edge, by name, with their
// edges' probe URLs: the control plane serves it as JSON
// (json.Marshal(Regions(node.Nodes()))). Edges answer the probe URL cheaply
// (GET /probe: 204, no body, Cache-Control: no-store).
func Regions(members []gossip.Member) []Region {
	byName := map[string][]string{}
	for _, m := range members {
		meta := m.Meta
		if m.MetaErr != nil || m.State != gossip.StateAlive || meta.Role != gossip.RoleEdge ||
			meta.Draining || meta.Leaving || meta.Full() || meta.Region == "" || meta.SignalURL == "" {
			continue
		}
		if _, ok := byName[meta.Region]; !ok {
			byName[meta.Region] = nil
		}
		if meta.ProbeURL != "" {
			byName[meta.Region] = append(byName[meta.Region], meta.ProbeURL)
		}
	}
	out := make([]Region, 0, len(byName))
	for name, urls := range byName {
		slices.Sort(urls)
		if urls == nil {
			urls = []string{}
		}
		out = append(out, Region{Name: name, ProbeURLs: slices.Compact(urls)})
	}
	slices.SortFunc(out, func(a, b Region) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}
