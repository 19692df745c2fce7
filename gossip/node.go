package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
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
	// PacketConn and Listener carry gossip (UDP packets, TCP streams); they
	// must share one port (Listen binds such a pair). The node owns them
	// from New on and closes them.
	PacketConn net.PacketConn
	Listener   net.Listener
	// Keyring is the gossip keyring, primary key first (cluster.Config
	// GossipKeyring). Empty: gossip is not encrypted. Encryption cannot be
	// switched on or off without a restart; keys rotate with SetKeys.
	Keyring [][]byte
	// Drop, when set, is asked for every packet and stream to or from peer
	// (host:port) and cuts the link when it returns true. Tests and
	// benchmarks use it to partition an in-process cluster.
	Drop func(peer string) bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Node is one member of the gossip cluster. Its methods are safe for
// concurrent use.
type Node struct {
	cfg    Config
	urls   *urlPolicy
	timing Timing
	log    *slog.Logger
	deps   Deps
	now    func() time.Time
	tr     *transport
	events *dispatcher
	queue  *memberlist.TransmitLimitedQueue

	closeOnce sync.Once
	closing   chan struct{}
	finished  chan struct{} // closed when Run returns
	metaCh    chan struct{} // metadata changed: publish
	syncCh    chan string   // a node joined: maybe sync with it (address)

	mu          sync.Mutex
	running     bool
	ml          *memberlist.Memberlist
	meta        Meta
	metaBytes   []byte
	published   Meta // last metadata given to memberlist
	lastPublish time.Time
	fleet       map[string]Member // alive members by node id, self included
	failed      map[string]failedNode
	dir         *directory
	rev         *revocations
	ring        *memberlist.Keyring // nil: not encrypted
}

type failedNode struct {
	addr string
	at   time.Time
}

// New validates cfg and allocates a node; it starts nothing.
func New(cfg Config, deps Deps) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.PacketConn == nil || deps.Listener == nil {
		return nil, fmt.Errorf("%w: Deps.PacketConn and Deps.Listener are required (see Listen)", ErrInvalid)
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
	adv, err := advertiseAddr(cfg, deps)
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
	n := &Node{
		cfg:      cfg,
		urls:     urls,
		timing:   t,
		log:      deps.Logger.With("component", "gossip", "node", cfg.NodeID, "region", cfg.Region),
		deps:     deps,
		now:      deps.Now,
		tr:       newTransport(deps.PacketConn, deps.Listener, adv, deps.Drop),
		events:   newDispatcher(),
		closing:  make(chan struct{}),
		finished: make(chan struct{}),
		metaCh:   make(chan struct{}, 1),
		syncCh:   make(chan string, 256),
		meta:     Meta{NodeID: cfg.NodeID, Role: cfg.Role, Region: cfg.Region},
		fleet:    map[string]Member{},
		failed:   map[string]failedNode{},
		dir:      newDirectory(cfg.NodeID, deps.Now()),
		rev:      newRevocations(),
	}
	n.metaBytes, err = n.meta.encode()
	if err != nil {
		return nil, err
	}
	n.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       n.numNodes,
		RetransmitMult: t.RetransmitMult,
	}
	return n, nil
}

func advertiseAddr(cfg Config, deps Deps) (*net.TCPAddr, error) {
	bound, ok := deps.Listener.Addr().(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("%w: listener is not TCP", ErrInvalid)
	}
	if cfg.AdvertiseAddr != "" {
		ap := netip.MustParseAddrPort(cfg.AdvertiseAddr) // validated
		return net.TCPAddrFromAddrPort(ap), nil
	}
	if bound.IP.IsUnspecified() {
		return nil, fmt.Errorf("%w: advertiseAddr is required when binding %s", ErrInvalid, bound)
	}
	return bound, nil
}

// Addr is the address other nodes reach this one at (a seed for others).
func (n *Node) Addr() string { return n.tr.advertise.String() }

// ID is the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

func (n *Node) memberlistConfig() *memberlist.Config {
	t := n.timing
	c := memberlist.DefaultLANConfig()
	c.Name = n.cfg.NodeID
	c.Transport = n.tr
	c.AdvertiseAddr = n.tr.advertise.IP.String()
	c.AdvertisePort = n.tr.advertise.Port
	c.BindAddr = c.AdvertiseAddr
	c.BindPort = c.AdvertisePort
	c.Logger = newStdLogger(n.log)
	c.ProbeInterval = t.ProbeInterval
	c.ProbeTimeout = t.ProbeTimeout
	c.IndirectChecks = t.IndirectChecks
	c.SuspicionMult = t.SuspicionMult
	c.SuspicionMaxTimeoutMult = t.SuspicionMaxMult
	c.GossipInterval = t.GossipInterval
	c.GossipNodes = t.GossipNodes
	c.RetransmitMult = t.RetransmitMult
	c.PushPullInterval = t.PushPullInterval
	c.TCPTimeout = t.TCPTimeout
	c.GossipToTheDeadTime = t.GossipToTheDead
	c.DeadNodeReclaimTime = t.DeadReclaim
	// No compression: memberlist's LZW allocates a 64 KB table per
	// message, which costs more CPU and garbage than the bytes it saves on
	// small probe packets (docs/benchmarks.md, gossip).
	c.EnableCompression = false
	d := &delegate{n: n}
	c.Delegate = d
	c.Events = (*eventDelegate)(d)
	c.Conflict = (*conflictDelegate)(d)
	if len(n.deps.Keyring) > 0 {
		ring, err := memberlist.NewKeyring(n.deps.Keyring[1:], n.deps.Keyring[0])
		if err == nil { // lengths were checked in New
			c.Keyring = ring
			n.mu.Lock()
			n.ring = ring
			n.mu.Unlock()
		}
		c.GossipVerifyIncoming = true
		c.GossipVerifyOutgoing = true
	}
	return c
}

// Run starts memberlist on the node's sockets, joins the seeds (retrying
// every RejoinInterval while alone), keeps trying to reach nodes it saw fail
// (healed partitions, restarted peers), triggers full-state syncs on joins
// and publishes metadata changes. It blocks until ctx ends or Close is
// called, then leaves (if LeaveOnStop) and shuts down.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.running || n.isClosing() {
		n.mu.Unlock()
		return ErrClosed
	}
	n.running = true
	n.mu.Unlock()
	defer close(n.finished)

	n.mu.Lock()
	if b, err := n.meta.encode(); err == nil {
		n.metaBytes = b
		n.published = n.meta
		n.lastPublish = n.now()
	}
	n.mu.Unlock()
	n.tr.start()
	ml, err := memberlist.Create(n.memberlistConfig())
	if err != nil {
		_ = n.tr.Shutdown()
		return fmt.Errorf("gossip: start: %w", err)
	}
	n.mu.Lock()
	n.ml = ml
	n.mu.Unlock()

	var wg sync.WaitGroup
	stopEvents := make(chan struct{})
	wg.Go(func() { n.events.run(stopEvents) })
	defer func() {
		n.stop(ml)
		close(stopEvents)
		wg.Wait()
	}()

	n.loop(ctx, ml)
	if n.isClosing() {
		return nil
	}
	return ctx.Err()
}

func (n *Node) stop(ml *memberlist.Memberlist) {
	if n.cfg.LeaveOnStop {
		// Say we are leaving (so the others tell a leave from a failure),
		// then leave.
		n.mu.Lock()
		n.meta.Leaving = true
		n.meta.Draining = true
		b, err := n.meta.encode()
		if err == nil {
			n.metaBytes = b
			n.published = n.meta
		}
		n.mu.Unlock()
		if err == nil {
			_ = ml.UpdateNode(n.timing.LeaveTimeout / 2)
		}
		if err := ml.Leave(n.timing.LeaveTimeout); err != nil {
			n.log.Debug("leave", "err", err)
		}
	}
	if err := ml.Shutdown(); err != nil {
		n.log.Warn("shutdown", "err", err)
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

// loop is Run's body: joins, rejoins, triggered syncs, metadata.
func (n *Node) loop(ctx context.Context, ml *memberlist.Memberlist) {
	t := n.timing
	joined := n.joinSeeds(ml)
	rejoin := time.NewTicker(t.RejoinInterval)
	defer rejoin.Stop()
	syncTimer := time.NewTimer(time.Hour)
	syncTimer.Stop()
	defer syncTimer.Stop()
	loadTimer := time.NewTimer(time.Hour)
	loadTimer.Stop()
	defer loadTimer.Stop()

	pending := map[string]struct{}{}
	var lastSync, pendingSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.closing:
			return
		case <-rejoin.C:
			if !joined || ml.NumMembers() <= 1 {
				joined = n.joinSeeds(ml)
			}
			n.reconnect(ml)
			n.expire()
		case addr := <-n.syncCh:
			if len(pending) == 0 {
				pendingSince = n.now() // read only while pending is not empty
			}
			pending[addr] = struct{}{}
			wait := syncInterval(t.SyncMinInterval, ml.NumMembers()) - n.now().Sub(lastSync)
			syncTimer.Reset(max(wait, time.Millisecond))
		case <-syncTimer.C:
			if len(pending) == 0 {
				continue
			}
			if deferSync(ml.GetHealthScore(), n.now().Sub(pendingSince)) {
				// This node is itself struggling (Lifeguard's awareness):
				// a full-state sync now would make it worse. Try later.
				syncTimer.Reset(syncInterval(t.SyncMinInterval, ml.NumMembers()))
				continue
			}
			n.triggeredSync(ml, pending)
			clear(pending)
			lastSync = n.now()
		case <-n.metaCh:
			if wait := n.publishMeta(ml); wait > 0 {
				loadTimer.Reset(wait)
			}
		case <-loadTimer.C:
			if wait := n.publishMeta(ml); wait > 0 {
				loadTimer.Reset(wait)
			}
		}
	}
}

// maxSyncDefer bounds how long a struggling node puts off a triggered
// sync. The sync with a node that came back is what restores its rooms in
// the directory (it announces nothing new by itself), and a node still
// missing probes after a partition heals may keep a health score above 0
// for a long time.
const maxSyncDefer = 5 * time.Second

// deferSync reports whether a triggered sync waiting for waited is put off
// at Lifeguard health score health.
func deferSync(health int, waited time.Duration) bool {
	return health > 0 && waited < maxSyncDefer
}

// joinSeeds joins through the configured seeds, then syncs with a few random
// members so that news of this node starts from several places at once.
func (n *Node) joinSeeds(ml *memberlist.Memberlist) bool {
	seeds := slices.DeleteFunc(slices.Clone(n.cfg.Seeds), func(s string) bool { return s == n.Addr() })
	if len(seeds) == 0 {
		return true
	}
	// One seed is enough to learn the cluster: try them in random order
	// and stop at the first that answers (a full-state exchange each;
	// asking every seed would triple the load on the seeds when a fleet
	// boots).
	rand.Shuffle(len(seeds), func(i, j int) { seeds[i], seeds[j] = seeds[j], seeds[i] })
	got := 0
	var err error
	for _, s := range seeds {
		if got, err = ml.Join([]string{s}); got > 0 {
			break
		}
	}
	if got == 0 {
		n.log.Warn("join: no seed answered; retrying", "seeds", len(seeds), "err", err)
		return false
	}
	n.log.Info("joined", "seeds", got, "members", ml.NumMembers())
	var others []string
	for _, m := range ml.Members() {
		a := m.Address()
		if m.Name != n.cfg.NodeID && !slices.Contains(seeds, a) {
			others = append(others, a)
		}
	}
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	if k := min(n.timing.SyncFanout, len(others)); k > 0 {
		_, _ = ml.Join(others[:k])
	}
	return true
}

// triggeredSync runs a full-state sync with one of the nodes that joined
// since the last one. Memberlist alone spreads a join by gossip and repairs a
// missed message only at the next periodic push/pull (15–30 s and more); the
// room directory and revocations of a node that comes back after a partition
// only travel in push/pulls. Every node that sees joins syncs with one
// joiner with probability SyncFanout × joins / N, so each joiner is synced by
// about SyncFanout nodes, and after a healed partition (many joins at once)
// every node syncs once with the other side.
func (n *Node) triggeredSync(ml *memberlist.Memberlist, pending map[string]struct{}) {
	total := max(ml.NumMembers(), 1)
	p := float64(n.timing.SyncFanout*len(pending)) / float64(total)
	if p < 1 && rand.Float64() >= p {
		return
	}
	addrs := make([]string, 0, len(pending))
	for a := range pending {
		addrs = append(addrs, a)
	}
	a := addrs[rand.IntN(len(addrs))]
	if _, err := ml.Join([]string{a}); err != nil {
		n.log.Debug("triggered sync failed", "peer", a, "err", err)
	}
}

// syncInterval is the least time between two triggered syncs of one node:
// SyncMinInterval up to 20 members, then growing with the cluster, so that
// the whole cluster runs at most about 20 triggered syncs per
// SyncMinInterval however large it is. Without the bound, a burst of false
// failures (a host that stalls) makes every node sync every second, which
// costs the CPU whose lack caused the false failures: a storm that keeps a
// large cluster from settling.
func syncInterval(min time.Duration, members int) time.Duration {
	return min * time.Duration(max(1, (members+19)/20))
}

// reconnect tries to reach one node that failed (not one that left), which
// is how two sides of a healed partition find each other again once
// memberlist has stopped gossiping to the dead.
func (n *Node) reconnect(ml *memberlist.Memberlist) {
	n.mu.Lock()
	now := n.now()
	var addrs []string
	for id, f := range n.failed {
		if now.Sub(f.at) > n.timing.ReconnectTimeout {
			delete(n.failed, id)
			continue
		}
		addrs = append(addrs, f.addr)
	}
	n.mu.Unlock()
	if len(addrs) == 0 || ml.GetHealthScore() > 0 {
		return
	}
	a := addrs[rand.IntN(len(addrs))]
	if _, err := ml.Join([]string{a}); err != nil {
		n.log.Debug("reconnect failed", "peer", a, "err", err)
	}
}

func (n *Node) expire() {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	n.rev.expire(now)
	n.dir.expire(now, n.timing.ReconnectTimeout)
}

// publishMeta gives memberlist the new metadata if it is due; it returns how
// long to wait when a load-only change came too soon.
func (n *Node) publishMeta(ml *memberlist.Memberlist) time.Duration {
	n.mu.Lock()
	now := n.now()
	m := n.meta
	if sameMeta(m, n.published) {
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
	b, err := m.encode()
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

func sameMeta(a, b Meta) bool {
	return sameMetaButLoad(a, b) && a.Load == b.Load
}

func sameMetaButLoad(a, b Meta) bool {
	return a.NodeID == b.NodeID && a.Role == b.Role && a.Region == b.Region &&
		a.SignalURL == b.SignalURL && slices.Equal(a.TURNURLs, b.TURNURLs) &&
		a.RelayAddr == b.RelayAddr && a.ProbeURL == b.ProbeURL &&
		a.Draining == b.Draining && a.Leaving == b.Leaving && a.MaxParticipants == b.MaxParticipants &&
		a.Version == b.Version
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
	return n.tr.Shutdown()
}

// UpdateMeta replaces the node's public addresses, capacity and version
// (node id, role and region come from Config; load and draining from
// SetLoad and SetDraining). It fails if the encoding exceeds MetaLimit.
func (n *Node) UpdateMeta(m Meta) error {
	n.mu.Lock()
	next := n.meta
	next.SignalURL = m.SignalURL
	next.TURNURLs = slices.Clone(m.TURNURLs)
	next.RelayAddr = m.RelayAddr
	next.ProbeURL = m.ProbeURL
	next.MaxParticipants = m.MaxParticipants
	next.Version = m.Version
	if err := n.urls.check(next); err != nil {
		n.mu.Unlock()
		return err
	}
	if _, err := next.encode(); err != nil {
		n.mu.Unlock()
		return err
	}
	n.meta = next
	n.mu.Unlock()
	n.kickMeta()
	return nil
}

// SetLoad records the node's load. Load-only changes reach the cluster at
// most every LoadInterval (each is a broadcast to every node); becoming full
// or not full goes out at once.
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

// Meta returns the node's own metadata as last set.
func (n *Node) Meta() Meta {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.meta
	m.TURNURLs = slices.Clone(m.TURNURLs)
	return m
}

// SetKeys installs a new keyring without restart, primary key first: every
// key is added, the first becomes the one that encrypts, and keys not in the
// list are removed. Rotation is three config reloads across the fleet: add
// the new key second, then move it first, then drop the old one.
func (n *Node) SetKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: an encrypted cluster needs at least one key", ErrInvalid)
	}
	n.mu.Lock()
	ring := n.ring
	n.mu.Unlock()
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

// Nodes returns a snapshot of the alive members (this node included),
// sorted by node id.
func (n *Node) Nodes() []Member {
	n.mu.Lock()
	out := make([]Member, 0, len(n.fleet))
	for _, m := range n.fleet {
		m.Meta.TURNURLs = slices.Clone(m.Meta.TURNURLs)
		out = append(out, m)
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.Meta.NodeID < b.Meta.NodeID:
			return -1
		case a.Meta.NodeID > b.Meta.NodeID:
			return 1
		}
		return 0
	})
	return out
}

// Subscribe calls fn for every change of the fleet view, in order, on one
// goroutine that Run owns. fn must not block: a slow fn delays every other
// subscriber, and once 4096 events wait, new ones are dropped (Nodes remains
// the truth; treat events as hints to re-read it). The returned function
// unsubscribes.
func (n *Node) Subscribe(fn func(Event)) (unsubscribe func()) {
	return n.events.subscribe(fn)
}

// Traffic returns the bytes gossip has sent and received so far.
func (n *Node) Traffic() Traffic { return n.tr.traffic() }

// SetRoom announces that this node hosts room with the given participants
// and tracks (replacing what was announced before).
func (n *Node) SetRoom(room string, r Room) {
	n.mu.Lock()
	d := n.dir.set(room, r)
	n.mu.Unlock()
	n.queueDelta(d)
}

// RemoveRoom announces that this node no longer hosts room.
func (n *Node) RemoveRoom(room string) {
	n.mu.Lock()
	d, ok := n.dir.remove(room)
	n.mu.Unlock()
	if ok {
		n.queueDelta(d)
	}
}

// Hosts returns the alive nodes that host room, by node id.
func (n *Node) Hosts(room string) []RoomHost {
	n.mu.Lock()
	defer n.mu.Unlock()
	hs := n.dir.hosts(room)
	return slices.DeleteFunc(hs, func(h RoomHost) bool {
		_, ok := n.fleet[h.NodeID]
		return !ok && h.NodeID != n.cfg.NodeID
	})
}

// Rooms returns the whole directory of alive nodes: node id → room → Room.
func (n *Node) Rooms() map[string]map[string]Room {
	n.mu.Lock()
	defer n.mu.Unlock()
	all := n.dir.rooms()
	for id := range all {
		if _, ok := n.fleet[id]; !ok && id != n.cfg.NodeID {
			delete(all, id)
		}
	}
	return all
}

// Revoke bars a participant, user or token cluster-wide until r.Until.
func (n *Node) Revoke(r Revocation) error {
	if err := r.validate(); err != nil {
		return err
	}
	n.mu.Lock()
	news := n.rev.add(r, n.now())
	if news {
		// Broadcast the merged entry: it replaces any queued older one.
		r = n.rev.get(r)
	}
	n.mu.Unlock()
	if news {
		n.queue.QueueBroadcast(broadcast{key: revokeBroadcastKey(r), msg: encodeMsg(msgRevoke, r)})
		n.events.post(Event{Kind: EventRevoke, Revocation: r})
	}
	return nil
}

func revokeBroadcastKey(r Revocation) string {
	return "r/" + strconv.Itoa(int(r.Kind)) + "/" + r.Room + "/" + r.Subject
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

func (n *Node) queueDelta(d dirDelta) {
	n.queue.QueueBroadcast(broadcast{key: "d/" + d.Node + "/" + d.Name, msg: encodeMsg(msgRoom, d)})
}

func (n *Node) numNodes() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return max(len(n.fleet), 1)
}
