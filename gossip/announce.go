package gossip

// What a node says about itself: its metadata, as its owner sets it, and
// when it is published.

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
)

// UpdateMeta replaces the node's public addresses, capacity and version
// (node id, role and region come from Config; load and draining from
// SetLoad and SetDraining; the WAN fields from the node itself). It fails
// with ErrBadMeta for a malformed media or relay address, with
// ErrURLNotAllowed for a host outside the URL allowlist and with
// ErrMetaTooLarge if the encoding exceeds MetaLimit; the metadata in
// force is then unchanged.
func (n *Node) UpdateMeta(m Meta) error {
	media, err := mediaAddrs(m.MediaAddrs)
	if err != nil {
		return err
	}
	if err := checkRelayAddr(m.RelayAddr); err != nil {
		return err
	}
	n.mu.Lock()
	next := n.meta
	next.SignalURL = m.SignalURL
	next.TURNURLs = slices.Clone(m.TURNURLs)
	next.MediaAddrs = media
	next.RelayAddr = m.RelayAddr
	next.ProbeURL = m.ProbeURL
	next.MaxParticipants = m.MaxParticipants
	next.Version = m.Version
	if err := n.urls.check(next); err != nil {
		n.mu.Unlock()
		return err
	}
	if _, err := encodeMeta(next, n.metaSeq); err != nil {
		n.mu.Unlock()
		return err
	}
	n.meta = next
	n.mu.Unlock()
	n.kickMeta()
	return nil
}

// ErrBadMeta marks metadata a node refuses to advertise: a malformed media
// or relay address.
var ErrBadMeta = errors.New("gossip: invalid metadata")

// mediaAddrs checks media addresses and returns them unmapped, without
// duplicates, in their order.
func mediaAddrs(in []netip.AddrPort) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, a := range in {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if !validMediaAddr(a) {
			return nil, fmt.Errorf("%w: media address %q: want an IP address (no zone, not unspecified) and a port", ErrBadMeta, a)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// checkRelayAddr checks a relay address: empty, or host:port with a host
// (a name or an address that is not unspecified) and a port.
func checkRelayAddr(a string) error {
	if a == "" {
		return nil
	}
	host, port, err := splitHostPort(a)
	if err == nil && (host == "" || port == 0) {
		err = errors.New("want host:port with a host and a port")
	}
	if ip, perr := netip.ParseAddr(host); err == nil && perr == nil && ip.IsUnspecified() {
		err = errors.New("an unspecified address cannot be reached")
	}
	if err != nil {
		return fmt.Errorf("%w: relay address %q: %w", ErrBadMeta, a, err)
	}
	return nil
}

// SetLoad records the node's load. Load-only changes reach the cluster at
// most every LoadInterval (each is a broadcast to every node), and only
// when the counts changed or CPU or bandwidth moved noticeably since the
// last published load (see loadMoved); becoming full or not full goes out
// at once.
func (n *Node) SetLoad(l Load) {
	n.mu.Lock()
	n.meta.Load = l
	n.mu.Unlock()
	n.kickMeta()
}

// SetDraining announces that the node takes no new participants (or takes
// them again). It goes out at once.
func (n *Node) SetDraining(draining bool) {
	n.mu.Lock()
	n.meta.Draining = draining
	n.mu.Unlock()
	n.kickMeta()
}

func (n *Node) kickMeta() {
	select {
	case n.metaCh <- struct{}{}:
	default:
	}
}

func (n *Node) kickElection() {
	select {
	case n.electCh <- struct{}{}:
	default:
	}
}

// Meta returns the node's own metadata as last set.
func (n *Node) Meta() Meta {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.meta
	m.TURNURLs = slices.Clone(m.TURNURLs)
	m.MediaAddrs = slices.Clone(m.MediaAddrs)
	return m
}

// publishMeta gives memberlist the new metadata if it is due; it returns how
// long to wait when a load-only change came too soon.
func (n *Node) publishMeta(ml *memberlist.Memberlist) time.Duration {
	n.mu.Lock()
	now := n.now()
	m := n.meta
	if sameMetaButLoad(m, n.published) && !loadMoved(n.published.Load, m.Load) {
		n.mu.Unlock()
		return 0
	}
	urgent := !sameMetaButLoad(m, n.published) || m.Full() != n.published.Full()
	if !urgent {
		if wait := n.timing.LoadInterval - now.Sub(n.lastPublish); wait > 0 {
			n.mu.Unlock()
			return wait
		}
	}
	b, err := encodeMeta(m, n.nextSeq())
	if err != nil {
		n.mu.Unlock()
		n.log.Error("metadata not published", "err", err)
		return 0
	}
	n.metaBytes = b
	n.published = m
	n.lastPublish = now
	n.mu.Unlock()
	if err := ml.UpdateNode(0); err != nil {
		n.log.Warn("metadata update", "err", err)
	}
	return 0
}

// Load changes smaller than these are not published: an idle edge's CPU
// wobbles by a fraction of a point between two measurements, and each
// published change is a broadcast that every node of the fleet sends on a
// few times (in a fleet of nine nodes, six idle edges republishing their
// load every loadInterval tripled the idle traffic). Placement weighs CPU
// in whole percents, and bandwidth is only reported.
const (
	loadCPUStep       = 5.0  // points of CPU
	loadBandwidthStep = 1000 // kbit/s, and a fifth of the published value
)

// loadMoved reports whether load to differs enough from the published
// load from to be published: another count of participants or tracks,
// CPU moved by loadCPUStep or more, or bandwidth by loadBandwidthStep and
// a fifth or more. Small moves add up: the comparison is with what was
// last published.
func loadMoved(from, to Load) bool {
	if from.Participants != to.Participants || from.Tracks != to.Tracks {
		return true
	}
	if math.Abs(to.CPU-from.CPU) >= loadCPUStep {
		return true
	}
	d := to.BandwidthKbps - from.BandwidthKbps
	if d < 0 {
		d = -d
	}
	return d >= loadBandwidthStep && 5*d >= from.BandwidthKbps
}

func sameMetaButLoad(a, b Meta) bool {
	return a.NodeID == b.NodeID && a.Role == b.Role && a.Region == b.Region &&
		a.SignalURL == b.SignalURL && slices.Equal(a.TURNURLs, b.TURNURLs) && slices.Equal(a.MediaAddrs, b.MediaAddrs) &&
		a.RelayAddr == b.RelayAddr && a.ProbeURL == b.ProbeURL &&
		a.Draining == b.Draining && a.Leaving == b.Leaving && a.MaxParticipants == b.MaxParticipants &&
		a.Version == b.Version && a.WANAddr == b.WANAddr && a.WAN == b.WAN
}
