package gossip

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// poolKind names one of a node's memberlist pools.
type poolKind uint8

const (
	// poolNone is where a node's own changes come from.
	poolNone poolKind = iota
	// poolLAN is the region's pool (the only one without a wan section).
	poolLAN
	// poolWAN is the pool that joins the regions.
	poolWAN
)

func (k poolKind) String() string {
	switch k {
	case poolLAN:
		return "lan"
	case poolWAN:
		return "wan"
	}
	return "none"
}

// wanLabel is the WAN pool's memberlist label: a node that mistakes a
// region pool's port for the WAN's (or the reverse) is refused rather than
// merged into the wrong pool.
const wanLabel = "spacecast-wan"

// pool is one memberlist pool of a node: its region's, or the WAN pool.
// The WAN pool is created when the node becomes a relayer and shut down
// when it stops being one; its sockets stay open in between.
type pool struct {
	n      *Node
	kind   poolKind
	timing Timing
	tr     *transport
	log    *slog.Logger
	queue  *memberlist.TransmitLimitedQueue
	size   atomic.Int64  // alive members, for the queue's retransmit count
	syncCh chan string   // a node joined: maybe sync with it (address)
	ready  chan struct{} // closed once the first join through the seeds was tried
	once   sync.Once
	// pushPulls counts full-state exchanges merged (push/pull syncs).
	pushPulls atomic.Uint64

	// Guarded by Node.mu.
	ml      *memberlist.Memberlist
	members map[string]Member // alive members by node id, self included
	failed  map[string]failedNode
}

type failedNode struct {
	addr   string
	region string
	at     time.Time
}

func newPool(n *Node, kind poolKind, t Timing, tr *transport) *pool {
	p := &pool{
		n:       n,
		kind:    kind,
		timing:  t,
		tr:      tr,
		log:     n.log.With("pool", kind.String()),
		syncCh:  make(chan string, 256),
		ready:   make(chan struct{}),
		members: map[string]Member{},
		failed:  map[string]failedNode{},
	}
	p.size.Store(1)
	p.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(max(p.size.Load(), 1)) },
		RetransmitMult: t.RetransmitMult,
	}
	return p
}

// queueMsg queues a broadcast into the pool.
func (p *pool) queueMsg(b broadcast) { p.queue.QueueBroadcast(b) }

func (p *pool) config() *memberlist.Config {
	t := p.timing
	c := memberlist.DefaultLANConfig()
	c.Name = p.n.cfg.NodeID
	c.Transport = mlTransport{p.tr}
	c.AdvertiseAddr = p.tr.advertise.IP.String()
	c.AdvertisePort = p.tr.advertise.Port
	c.BindAddr = c.AdvertiseAddr
	c.BindPort = c.AdvertisePort
	c.Logger = newStdLogger(p.log)
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
	d := &poolDelegate{p: p}
	switch {
	case p.kind == poolWAN:
		c.Label = wanLabel
	case p.n.wan != nil:
		// A node with a wan section keeps its region's pool to its region.
		c.Alive = (*regionGuard)(d)
	}
	c.Delegate = d
	c.Events = (*poolEvents)(d)
	c.Conflict = (*poolConflicts)(d)
	if ring := p.n.ring; ring != nil {
		c.Keyring = ring
		c.GossipVerifyIncoming = true
		c.GossipVerifyOutgoing = true
	}
	return c
}

// create starts memberlist on the pool's transport (it joins nobody yet).
func (p *pool) create() (*memberlist.Memberlist, error) {
	p.tr.setOn(true)
	ml, err := memberlist.Create(p.config())
	if err != nil {
		p.tr.setOn(false)
		return nil, err
	}
	p.n.mu.Lock()
	p.ml = ml
	p.n.mu.Unlock()
	return ml, nil
}

// shutdown leaves (when leave is set) and stops memberlist; the transport
// stays open, switched off.
func (p *pool) shutdown(ml *memberlist.Memberlist, leave bool) {
	if leave {
		if err := ml.Leave(p.timing.LeaveTimeout); err != nil {
			p.log.Debug("leave", "err", err)
		}
	}
	if err := ml.Shutdown(); err != nil {
		p.log.Warn("shutdown", "err", err)
	}
	p.n.mu.Lock()
	p.ml = nil
	p.n.mu.Unlock()
}

// run joins the seeds (retrying every RejoinInterval while alone), keeps
// trying to reach nodes it saw fail (healed partitions, restarted peers)
// and triggers full-state syncs with nodes that join, until ctx ends.
func (p *pool) run(ctx context.Context, ml *memberlist.Memberlist, seeds func() []string) {
	t := p.timing
	joined := p.joinSeeds(ml, seeds())
	p.once.Do(func() { close(p.ready) })
	rejoin := time.NewTicker(t.RejoinInterval)
	defer rejoin.Stop()
	syncTimer := time.NewTimer(time.Hour)
	syncTimer.Stop()
	defer syncTimer.Stop()

	pending := map[string]struct{}{}
	var lastSync, pendingSince time.Time
	var bridging sync.WaitGroup // at most one bridge attempt at a time
	bridgeDone := make(chan struct{}, 1)
	bridgeDone <- struct{}{}
	defer bridging.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-rejoin.C:
			if !joined || ml.NumMembers() <= 1 {
				joined = p.joinSeeds(ml, seeds())
			} else if p.kind == poolWAN {
				select {
				case <-bridgeDone:
					bridging.Go(func() {
						defer func() { bridgeDone <- struct{}{} }()
						p.bridge(ctx, ml, seeds())
					})
				default:
				}
			}
			p.reconnect(ml)
		case addr := <-p.syncCh:
			if len(pending) == 0 {
				pendingSince = p.n.now() // read only while pending is not empty
			}
			pending[addr] = struct{}{}
			wait := syncInterval(t.SyncMinInterval, ml.NumMembers()) - p.n.now().Sub(lastSync)
			syncTimer.Reset(max(wait, time.Millisecond))
		case <-syncTimer.C:
			if len(pending) == 0 {
				continue
			}
			if deferSync(ml.GetHealthScore(), p.n.now().Sub(pendingSince)) {
				// This node is itself struggling (Lifeguard's awareness):
				// a full-state sync now would make it worse. Try later.
				syncTimer.Reset(syncInterval(t.SyncMinInterval, ml.NumMembers()))
				continue
			}
			p.triggeredSync(ml, pending)
			clear(pending)
			lastSync = p.n.now()
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

// joinSeeds joins through the seeds, then syncs with a few random members
// so that news of this node starts from several places at once.
func (p *pool) joinSeeds(ml *memberlist.Memberlist, seeds []string) bool {
	seeds = slices.DeleteFunc(seeds, func(s string) bool { return s == p.tr.advertise.String() })
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
		p.log.Warn("join: no seed answered; retrying", "seeds", len(seeds), "err", err)
		return false
	}
	p.log.Info("joined", "seeds", got, "members", ml.NumMembers())
	// Memberlist's Members hands out nodes it keeps writing to: read our
	// own copy.
	var others []string
	for a := range p.memberAddrs() {
		if a != p.tr.advertise.String() && !slices.Contains(seeds, a) {
			others = append(others, a)
		}
	}
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	if k := min(p.timing.SyncFanout, len(others)); k > 0 {
		_, _ = ml.Join(others[:k])
	}
	return true
}

// memberAddrs returns the addresses of the pool's alive members.
func (p *pool) memberAddrs() map[string]bool {
	p.n.mu.Lock()
	defer p.n.mu.Unlock()
	out := make(map[string]bool, len(p.members))
	for _, m := range p.members {
		out[m.Addr.String()] = true
	}
	return out
}

// bridge joins one seed that is not a member of our pool. Two groups of
// relayers that started while their seeds were down form two WAN pools
// that do not know each other (each is not alone, so it stops retrying);
// the seeds are what joins them. Only the WAN pool does it: its members and
// seeds are few.
func (p *pool) bridge(ctx context.Context, ml *memberlist.Memberlist, seeds []string) {
	have := p.memberAddrs()
	var missing []string
	for _, s := range seeds {
		if s == p.tr.advertise.String() || have[s] {
			continue
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			continue
		}
		if _, err := netip.ParseAddr(host); err != nil {
			lctx, cancel := context.WithTimeout(ctx, time.Second)
			addrs, err := net.DefaultResolver.LookupHost(lctx, host)
			cancel()
			if err != nil || slices.ContainsFunc(addrs, func(a string) bool { return have[net.JoinHostPort(a, port)] }) {
				continue
			}
		}
		missing = append(missing, s)
	}
	if len(missing) == 0 {
		return
	}
	s := missing[rand.IntN(len(missing))]
	if n, err := ml.Join([]string{s}); n > 0 {
		p.log.Info("joined a seed outside the pool", "seed", s)
	} else {
		p.log.Debug("seed outside the pool unreachable", "seed", s, "err", err)
	}
}

// triggeredSync runs a full-state sync with one of the nodes that joined
// since the last one. Memberlist alone spreads a join by gossip and repairs a
// missed message only at the next periodic push/pull (15–30 s and more); the
// room directory and revocations of a node that comes back after a partition
// only travel in push/pulls. Every node that sees joins syncs with one
// joiner with probability SyncFanout × joins / N, so each joiner is synced by
// about SyncFanout nodes, and after a healed partition (many joins at once)
// every node syncs once with the other side.
func (p *pool) triggeredSync(ml *memberlist.Memberlist, pending map[string]struct{}) {
	total := max(ml.NumMembers(), 1)
	prob := float64(p.timing.SyncFanout*len(pending)) / float64(total)
	if prob < 1 && rand.Float64() >= prob {
		return
	}
	addrs := make([]string, 0, len(pending))
	for a := range pending {
		addrs = append(addrs, a)
	}
	a := addrs[rand.IntN(len(addrs))]
	if _, err := ml.Join([]string{a}); err != nil {
		p.log.Debug("triggered sync failed", "peer", a, "err", err)
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
func (p *pool) reconnect(ml *memberlist.Memberlist) {
	p.n.mu.Lock()
	now := p.n.now()
	var addrs []string
	for id, f := range p.failed {
		if now.Sub(f.at) > p.timing.ReconnectTimeout {
			delete(p.failed, id)
			continue
		}
		addrs = append(addrs, f.addr)
	}
	p.n.mu.Unlock()
	if len(addrs) == 0 || ml.GetHealthScore() > 0 {
		return
	}
	a := addrs[rand.IntN(len(addrs))]
	if _, err := ml.Join([]string{a}); err != nil {
		p.log.Debug("reconnect failed", "peer", a, "err", err)
	}
}
