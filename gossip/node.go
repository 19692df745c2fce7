package gossip

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// ErrClosed is returned by Run after Close, and by calls that need a
// running node.
var ErrClosed = errors.New("gossip: closed")

// Deps are what a Node needs from its owner.
type Deps struct {
	Logger *slog.Logger
	// PacketConn and Listener carry the region pool's gossip (UDP packets,
	// TCP streams); they must share one port (Listen binds such a pair).
	// The node owns them from New on and closes them.
	PacketConn net.PacketConn
	Listener   net.Listener
	// WANPacketConn and WANListener are the WAN pool's, bound on
	// Config.WAN.BindAddr; required with a wan section, owned likewise.
	WANPacketConn net.PacketConn
	WANListener   net.Listener
	// Keyring is the gossip keyring, primary key first (clusterkey.Config
	// GossipKeyring); both pools use it. Empty: gossip is not encrypted.
	// Encryption cannot be switched on or off without a restart; keys
	// rotate with SetKeys.
	Keyring [][]byte
	// Drop, when set, is asked for every packet and stream to or from peer
	// (host:port) and cuts the link when it returns true. Tests and
	// benchmarks use it to partition an in-process cluster.
	Drop func(peer string) bool
	// Delay, when set, gives the link to peer (host:port) a one-way
	// latency: every UDP packet to peer waits it out (each call may answer
	// differently: jitter), and a TCP stream dialled to peer waits it on
	// connect, before every write and after every read. Tests and
	// benchmarks use it to put regions far apart on one host.
	Delay func(peer string) time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Node is one member of the gossip fleet: of its region's pool, and of the
// WAN pool while it is one of its region's relayers. Its methods are safe
// for concurrent use.
type Node struct {
	cfg    Config
	urls   *urlPolicy
	timing Timing // the region pool's
	log    *slog.Logger
	deps   Deps
	now    func() time.Time
	events *dispatcher
	lan    *pool
	wan    *pool // nil without a wan section
	ring   *memberlist.Keyring

	closeOnce sync.Once
	closing   chan struct{}
	finished  chan struct{} // closed when Run returns
	metaCh    chan struct{} // metadata changed: publish
	electCh   chan struct{} // the region pool changed: who relays?

	mu           sync.Mutex
	running      bool
	meta         Meta
	metaSeq      uint64
	metaBytes    []byte
	wanMetaBytes []byte
	published    Meta // last metadata given to memberlist
	lastPublish  time.Time
	relaying     bool                   // a member of the WAN pool now
	raw          map[string]record      // the region pool's members as records (for the WAN)
	nodes        map[string]*remoteNode // other regions' nodes we have records of
	remote       map[string]*remoteNode // the alive ones: the relayed view
	listSeen     map[string]time.Time   // listings' origins, last relied on
	deadAt       map[string]time.Time   // own listing: when a node was marked gone
	dir          *directory
	lists        *vmap[listValue]
	rev          *revocations
}

// New validates cfg and allocates a node; it starts nothing.
func New(cfg Config, deps Deps) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.PacketConn == nil || deps.Listener == nil {
		return nil, fmt.Errorf("%w: Deps.PacketConn and Deps.Listener are required (see Listen)", ErrInvalid)
	}
	if cfg.WAN.Enabled() && (deps.WANPacketConn == nil || deps.WANListener == nil) {
		return nil, fmt.Errorf("%w: a wan section needs Deps.WANPacketConn and Deps.WANListener (see Listen)", ErrInvalid)
	}
	for i, k := range deps.Keyring {
		switch len(k) {
		case 16, 24, 32:
		default:
			return nil, fmt.Errorf("%w: keyring[%d] is %d bytes, want 16, 24 or 32", ErrInvalid, i, len(k))
		}
	}
	t, err := cfg.Effective()
	if err != nil {
		return nil, err
	}
	adv, err := advertiseAddr(cfg.AdvertiseAddr, deps.Listener, "")
	if err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	urls, err := newURLPolicy(cfg.URLAllowlist)
	if err != nil {
		return nil, fmt.Errorf("%w: urlAllowlist: %w", ErrInvalid, err)
	}
	now := deps.Now()
	n := &Node{
		cfg:      cfg,
		urls:     urls,
		timing:   t,
		log:      deps.Logger.With("component", "gossip", "node", cfg.NodeID, "region", cfg.Region),
		deps:     deps,
		now:      deps.Now,
		events:   newDispatcher(),
		closing:  make(chan struct{}),
		finished: make(chan struct{}),
		metaCh:   make(chan struct{}, 1),
		electCh:  make(chan struct{}, 1),
		meta:     Meta{NodeID: cfg.NodeID, Role: cfg.Role, Region: cfg.Region},
		raw:      map[string]record{},
		nodes:    map[string]*remoteNode{},
		remote:   map[string]*remoteNode{},
		listSeen: map[string]time.Time{},
		deadAt:   map[string]time.Time{},
		dir:      newDirectory(cfg.NodeID, now),
		lists:    newVmap[listValue](cfg.NodeID, now, nil),
		rev:      newRevocations(),
	}
	if len(deps.Keyring) > 0 {
		if n.ring, err = memberlist.NewKeyring(deps.Keyring[1:], deps.Keyring[0]); err != nil {
			return nil, fmt.Errorf("%w: keyring: %w", ErrInvalid, err)
		}
	}
	n.lan = newPool(n, poolLAN, t, newTransport(deps.PacketConn, deps.Listener, adv, deps.Drop, deps.Delay))
	if cfg.WAN.Enabled() {
		wt, err := cfg.WAN.Effective()
		if err != nil {
			return nil, err
		}
		wadv, err := advertiseAddr(cfg.WAN.AdvertiseAddr, deps.WANListener, "wan.")
		if err != nil {
			return nil, err
		}
		n.wan = newPool(n, poolWAN, wt, newTransport(deps.WANPacketConn, deps.WANListener, wadv, deps.Drop, deps.Delay))
		n.meta.WANAddr = wadv.String()
		if n.wanMetaBytes, err = (Meta{NodeID: cfg.NodeID, Role: cfg.Role, Region: cfg.Region}).encode(); err != nil {
			return nil, err
		}
	}
	if n.metaBytes, err = encodeMeta(n.meta, n.nextSeq()); err != nil {
		return nil, err
	}
	return n, nil
}

func advertiseAddr(configured string, ln net.Listener, prefix string) (*net.TCPAddr, error) {
	bound, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("%w: %slistener is not TCP", ErrInvalid, prefix)
	}
	if configured != "" {
		ap := netip.MustParseAddrPort(configured) // validated
		return net.TCPAddrFromAddrPort(ap), nil
	}
	if bound.IP.IsUnspecified() {
		return nil, fmt.Errorf("%w: %sadvertiseAddr is required when binding %s", ErrInvalid, prefix, bound)
	}
	return bound, nil
}

// nextSeq returns the next metadata sequence number: the wall clock in
// nanoseconds, or one more than the last (so that it rises across
// restarts). Call with the mutex held, or before Run.
func (n *Node) nextSeq() uint64 {
	n.metaSeq = max(uint64(n.now().UnixNano()), n.metaSeq+1)
	return n.metaSeq
}

// Addr is the address other nodes of the region reach this one at (a seed
// for others).
func (n *Node) Addr() string { return n.lan.tr.advertise.String() }

// WANAddr is the address of this node's WAN pool ("" without a wan
// section).
func (n *Node) WANAddr() string {
	if n.wan == nil {
		return ""
	}
	return n.wan.tr.advertise.String()
}

// ID is the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

// Relaying reports whether the node is a member of the WAN pool now.
func (n *Node) Relaying() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.relaying
}

// Run starts the region pool on the node's sockets, joins the seeds
// (retrying every RejoinInterval while alone), keeps trying to reach nodes
// it saw fail (healed partitions, restarted peers), triggers full-state
// syncs on joins and publishes metadata changes; with a wan section it
// joins and leaves the WAN pool as its region's election says. It blocks
// until ctx ends or Close is called, then leaves (if LeaveOnStop) and
// shuts down.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.running || n.isClosing() {
		n.mu.Unlock()
		return ErrClosed
	}
	n.running = true
	if b, err := encodeMeta(n.meta, n.nextSeq()); err == nil {
		n.metaBytes = b
		n.published = n.meta
		n.lastPublish = n.now()
	}
	n.mu.Unlock()
	defer close(n.finished)

	n.lan.tr.start()
	if n.wan != nil {
		n.wan.tr.start()
	}
	defer func() {
		_ = n.lan.tr.Shutdown()
		if n.wan != nil {
			_ = n.wan.tr.Shutdown()
		}
	}()
	ml, err := n.lan.create()
	if err != nil {
		return fmt.Errorf("gossip: start: %w", err)
	}

	var wg sync.WaitGroup
	stopEvents := make(chan struct{})
	wg.Go(func() { n.events.run(stopEvents) })
	lanCtx, stopLAN := context.WithCancel(ctx)
	wg.Go(func() { n.lan.run(lanCtx, ml, func() []string { return slices.Clone(n.cfg.Seeds) }) })
	// Our previous run's rooms and listing are void.
	n.lan.queueMsg(dirBroadcast(n.dir.reset()))
	n.lan.queueMsg(listBroadcast(n.lists.reset()))

	w := &wanRunner{}
	defer func() {
		w.stop(n, n.cfg.LeaveOnStop)
		n.leave(ml)
		stopLAN()
		close(stopEvents)
		wg.Wait()
		n.lan.shutdown(ml, n.cfg.LeaveOnStop)
	}()
	n.loop(ctx, ml, w)
	if n.isClosing() {
		return nil
	}
	return ctx.Err()
}

// leave announces a graceful leave in the region pool's metadata, so that
// the others tell a leave from a failure.
func (n *Node) leave(ml *memberlist.Memberlist) {
	if !n.cfg.LeaveOnStop {
		return
	}
	n.mu.Lock()
	n.meta.Leaving = true
	n.meta.Draining = true
	n.meta.WAN = false
	b, err := encodeMeta(n.meta, n.nextSeq())
	if err == nil {
		n.metaBytes = b
		n.published = n.meta
	}
	n.mu.Unlock()
	if err == nil {
		_ = ml.UpdateNode(n.timing.LeaveTimeout / 2)
	}
}

func (n *Node) isClosing() bool {
	select {
	case <-n.closing:
		return true
	default:
		return false
	}
}

// loop is Run's body: metadata, the WAN election, expiry.
func (n *Node) loop(ctx context.Context, ml *memberlist.Memberlist, w *wanRunner) {
	t := n.timing
	loadTimer := time.NewTimer(time.Hour)
	loadTimer.Stop()
	defer loadTimer.Stop()
	expire := time.NewTicker(t.RejoinInterval)
	defer expire.Stop()
	var elect <-chan time.Time
	if n.wan != nil {
		tk := time.NewTicker(t.ProbeInterval)
		defer tk.Stop()
		elect = tk.C
	}
	var e election
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.closing:
			return
		case <-expire.C:
			n.expire()
		case <-n.metaCh:
			if wait := n.publishMeta(ml); wait > 0 {
				loadTimer.Reset(wait)
			}
		case <-loadTimer.C:
			if wait := n.publishMeta(ml); wait > 0 {
				loadTimer.Reset(wait)
			}
		case <-elect:
			n.runElection(ctx, &e, w)
		case <-n.electCh:
			n.runElection(ctx, &e, w)
		}
	}
}

func (n *Node) expire() {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	n.rev.expire(now)
	n.dir.expire(now, n.timing.ReconnectTimeout)
	// What we learnt of other regions' nodes that have been out of sight
	// for long.
	for id, rn := range n.nodes {
		if _, alive := n.remote[id]; !alive && now.Sub(rn.seen) > remoteTTL {
			delete(n.nodes, id)
			n.dir.forget(id)
		}
	}
	for id, at := range n.listSeen {
		if now.Sub(at) > remoteTTL && !n.lanOwned(id) {
			delete(n.listSeen, id)
			n.lists.forget(id)
		}
	}
}

// Close stops Run (leaving gracefully if LeaveOnStop) and waits for it; if
// Run never ran, it closes the sockets. Safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { close(n.closing) })
	n.mu.Lock()
	running := n.running
	n.running = true // a later Run returns ErrClosed
	n.mu.Unlock()
	if running {
		<-n.finished
		return nil
	}
	err := n.lan.tr.Shutdown()
	if n.wan != nil {
		err = errors.Join(err, n.wan.tr.Shutdown())
	}
	return err
}

// SetKeys installs a new keyring without restart, primary key first: every
// key is added, the first becomes the one that encrypts, and keys not in the
// list are removed. Both pools share the keyring. Rotation is three config
// reloads across the fleet: add the new key second, then move it first,
// then drop the old one.
func (n *Node) SetKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: an encrypted cluster needs at least one key", ErrInvalid)
	}
	ring := n.ring
	if ring == nil {
		return fmt.Errorf("%w: gossip was started without encryption; a restart is needed to turn it on", ErrInvalid)
	}
	for _, k := range keys {
		if err := ring.AddKey(k); err != nil {
			return fmt.Errorf("gossip: add key: %w", err)
		}
	}
	if err := ring.UseKey(keys[0]); err != nil {
		return fmt.Errorf("gossip: use key: %w", err)
	}
	for _, old := range ring.GetKeys() {
		if !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, old) }) {
			if err := ring.RemoveKey(old); err != nil {
				return fmt.Errorf("gossip: remove key: %w", err)
			}
		}
	}
	return nil
}

// Nodes returns a snapshot of the alive members of the fleet (this node
// included), sorted by node id: its region's pool, and the nodes of other
// regions that its region's relayers vouch for.
func (n *Node) Nodes() []Member {
	n.mu.Lock()
	out := make([]Member, 0, len(n.lan.members)+len(n.remote))
	for _, m := range n.lan.members {
		out = append(out, m.clone())
	}
	for _, rn := range n.remote {
		out = append(out, rn.member.clone())
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.Meta.NodeID, b.Meta.NodeID) })
	return out
}

// Member returns the alive member of the fleet view with node id id (this
// node included): of its region's pool, or of another region through the
// relayers.
func (n *Node) Member(id string) (Member, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m, ok := n.lan.members[id]; ok {
		return m.clone(), true
	}
	if rn, ok := n.remote[id]; ok {
		return rn.member.clone(), true
	}
	return Member{}, false
}

// RelayAddr returns the relay address (Meta.RelayAddr) of the alive edge
// with node id id, in any region; false when the node is not in the view,
// has no relay address or advertises something the URL allowlist refuses.
// Its signature is edge/relay's Config.Resolve.
func (n *Node) RelayAddr(id string) (string, bool) {
	m, ok := n.Member(id)
	if !ok || m.MetaErr != nil || m.Meta.RelayAddr == "" {
		return "", false
	}
	return m.Meta.RelayAddr, true
}

// inView reports whether node is alive in the fleet view. Call with the
// mutex held.
func (n *Node) inView(node string) bool {
	if node == n.cfg.NodeID {
		return true
	}
	if _, ok := n.lan.members[node]; ok {
		return true
	}
	_, ok := n.remote[node]
	return ok
}

// regionOf returns a node's region in the view. Call with the mutex held.
func (n *Node) regionOf(node string) string {
	if m, ok := n.lan.members[node]; ok {
		return m.Meta.Region
	}
	if rn, ok := n.remote[node]; ok {
		return rn.member.Meta.Region
	}
	if node == n.cfg.NodeID {
		return n.cfg.Region
	}
	return ""
}

// Subscribe calls fn for every change of the fleet view, in order, on one
// goroutine that Run owns. fn must not block: a slow fn delays every other
// subscriber, and once 4096 events wait, new ones are dropped (Nodes remains
// the truth; treat events as hints to re-read it). The returned function
// unsubscribes.
func (n *Node) Subscribe(fn func(Event)) (unsubscribe func()) {
	return n.events.subscribe(fn)
}

// Traffic returns the bytes gossip has sent and received so far, both
// pools together.
func (n *Node) Traffic() Traffic {
	t := n.lan.tr.traffic()
	if n.wan != nil {
		w := n.wan.tr.traffic()
		t.SentBytes += w.SentBytes
		t.ReceivedBytes += w.ReceivedBytes
	}
	return t
}

// WANTraffic returns the WAN pool's share of Traffic.
func (n *Node) WANTraffic() Traffic {
	if n.wan == nil {
		return Traffic{}
	}
	return n.wan.tr.traffic()
}

// SetRoom announces that this node hosts room with the given participants
// and tracks (replacing what was announced before). Room names cannot
// contain NUL.
func (n *Node) SetRoom(room string, r Room) {
	n.mu.Lock()
	ds := n.dir.setRoom(room, r)
	o := n.newOutbox()
	for _, d := range ds {
		o.add(dirBroadcast(d), poolNone, false, true)
	}
	n.mu.Unlock()
	n.send(o)
}

// RemoveRoom announces that this node no longer hosts room.
func (n *Node) RemoveRoom(room string) {
	n.mu.Lock()
	ds := n.dir.removeRoom(room)
	o := n.newOutbox()
	for _, d := range ds {
		o.add(dirBroadcast(d), poolNone, false, true)
	}
	n.mu.Unlock()
	n.send(o)
}

// Hosts returns the alive nodes that host room, by node id.
func (n *Node) Hosts(room string) []RoomHost {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dir.hosts(room, n.inView)
}

// Rooms returns the whole directory of alive nodes: node id → room → Room.
func (n *Node) Rooms() map[string]map[string]Room {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dir.rooms(n.inView)
}

// Publishers returns, for room, every participant that publishes tracks and
// the edge it publishes them on (relayed copies left out), by identity.
func (n *Node) Publishers(room string) []Publisher {
	n.mu.Lock()
	defer n.mu.Unlock()
	return publishers(n.dir.hosts(room, n.inView), n.regionOf)
}

// TrackSources returns the alive edges that have track sid of room: the
// edge it is published on first, then the edges that carry a relayed copy
// of it (whose origin is alive), by node id. Empty when no alive edge has
// it.
func (n *Node) TrackSources(room, sid string) []TrackSource {
	n.mu.Lock()
	defer n.mu.Unlock()
	return trackSources(n.dir.hosts(room, n.inView), sid, n.inView, n.regionOf)
}

// Revoke bars a participant, user or token fleet-wide until r.Until.
func (n *Node) Revoke(r Revocation) error {
	if err := r.validate(); err != nil {
		return err
	}
	n.mu.Lock()
	o := n.newOutbox()
	if n.rev.add(r, n.now()) {
		// Broadcast the merged entry: it replaces any queued older one.
		r = n.rev.get(r)
		o.add(revokeBroadcast(r), poolNone, false, true)
		o.events = append(o.events, Event{Kind: EventRevoke, Revocation: r})
	}
	n.mu.Unlock()
	n.send(o)
	return nil
}

// Revoked reports whether a participant with this identity (in room) or a
// token with this id is revoked. Edges check it on every join and reconnect;
// empty arguments match nothing.
func (n *Node) Revoked(room, identity, tokenID string) bool {
	return n.RevokedIssued(room, identity, tokenID, time.Time{})
}

// RevokedIssued is Revoked for a credential issued at issued: revocations
// bounded by IssuedBefore do not bar credentials issued after it. A zero
// issued is barred by every matching revocation.
func (n *Node) RevokedIssued(room, identity, tokenID string, issued time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rev.revoked(room, identity, tokenID, issued, n.now())
}

// RevokedPrefix is RevokedIssued for every identity of room that starts
// with prefix (the identities one permanent link admitted).
func (n *Node) RevokedPrefix(room, prefix string, issued time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rev.revokedPrefix(room, prefix, issued, n.now())
}

// Revocations returns the revocations in force.
func (n *Node) Revocations() []Revocation {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rev.list(n.now())
}
