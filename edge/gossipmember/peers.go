package gossipmember

import (
	"net/netip"
	"slices"

	"github.com/spacecast/spacecast/gossip"
)

// PeerView is what WatchMediaPeers reads of the gossip node;
// *gossip.Node implements it.
type PeerView interface {
	Nodes() []gossip.Member
	Subscribe(fn func(gossip.Event)) (unsubscribe func())
}

var _ PeerView = (*gossip.Node)(nil)

// PeerMedia returns the addresses of addrs that another host can reach
// (not loopback, unspecified, multicast or link-local), without
// duplicates, in their order: what an edge advertises as its media
// addresses (gossip.Meta.MediaAddrs).
func PeerMedia(addrs []netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, a := range addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap().WithZone(""), a.Port())
		if reachable(a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// reachable reports whether another host can reach a. A remote edge's
// loopback or link-local address would name this host's own (or, for
// 169.254.169.254, the cloud's metadata service), never the edge.
func reachable(a netip.AddrPort) bool {
	ip := a.Addr()
	return ip.IsValid() && a.Port() != 0 && !ip.IsLoopback() && !ip.IsUnspecified() && !ip.IsMulticast() &&
		!ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast() && !ip.IsInterfaceLocalMulticast()
}

// WatchMediaPeers keeps the peer list of the edge's embedded TURN server
// (set is turn.Server.SetPeers) equal to own, the edge's own media
// endpoints, plus the media addresses that every alive edge of the fleet,
// in every region, advertises in its gossip metadata: a client whose
// media goes through this edge's TURN server can reach any edge of the
// fleet, even on a private address, and nothing else that the TURN policy
// refuses. Edges whose metadata is refused (gossip.Member.MetaErr) are
// left out, and so are addresses another host cannot reach (see
// PeerMedia).
//
// set is called once at once, then from the gossip node's event goroutine
// whenever the list changes (a join, a failure, a departure, new
// metadata); it must not block. The returned function stops the watch.
func WatchMediaPeers(view PeerView, own []netip.AddrPort, set func([]netip.AddrPort)) (stop func()) {
	w := &peerWatch{view: view, own: slices.Clone(own), set: set}
	w.refresh()
	return view.Subscribe(func(e gossip.Event) {
		if e.Kind != gossip.EventRevoke {
			w.refresh()
		}
	})
}

// peerWatch is one WatchMediaPeers. Its refresh runs once on the caller's
// goroutine before the subscription, then only on the gossip node's event
// goroutine (which calls subscribers one at a time): never concurrently.
type peerWatch struct {
	view PeerView
	own  []netip.AddrPort
	set  func([]netip.AddrPort)
	last []netip.AddrPort
	done bool // last has been set once
}

// refresh computes the list from the view and sets it if it changed.
func (w *peerWatch) refresh() {
	list := slices.Clone(w.own)
	for _, m := range w.view.Nodes() {
		if m.MetaErr != nil || m.Meta.Role != gossip.RoleEdge {
			continue
		}
		for _, a := range PeerMedia(m.Meta.MediaAddrs) {
			if !slices.Contains(list, a) {
				list = append(list, a)
			}
		}
	}
	if w.done && slices.Equal(list, w.last) {
		return
	}
	w.last, w.done = list, true
	w.set(slices.Clone(list))
}
