package gossip

import (
	"context"
	"slices"
	"time"

	"github.com/hashicorp/memberlist"
)

// Who is in the WAN pool.
//
// Every node with a wan section can be; the region decides who is, the
// same way on every node, from the region pool's metadata: every control
// plane, and the wan.members edges with the lowest node ids among the
// region's edges that have a wan section and are not leaving. Node ids are
// stable across restarts, so a restarted relayer is a relayer again, and
// operators know which edges relay. A node joins after being chosen for
// promoteAfter (its region pool's view settles after its own join first)
// and leaves after not being chosen for demoteAfter (a flapping region
// pool does not make relayers come and go).

// election is the node loop's memory of the WAN election.
type election struct {
	wanted bool
	since  time.Time
}

// wanRunner is the WAN pool while this node is in it; the node loop owns
// it.
type wanRunner struct {
	ml     *memberlist.Memberlist
	cancel context.CancelFunc
	done   chan struct{} // closed when the pool's run returned
}

// promoteAfter is how long a node must be chosen before it joins the WAN
// pool.
func (n *Node) promoteAfter() time.Duration { return n.timing.ProbeInterval }

// demoteAfter is how long a relayer must not be chosen before it leaves.
func (n *Node) demoteAfter() time.Duration { return 3 * n.wan.timing.ProbeInterval }

// wantWAN reports whether this node is one its region chooses for the WAN
// pool. Call with the mutex held.
func (n *Node) wantWAN() bool {
	if n.wan == nil || n.meta.Leaving {
		return false
	}
	if n.cfg.Role == RoleControlPlane {
		return true
	}
	self := n.cfg.NodeID
	ids := []string{self}
	for id, m := range n.lan.members {
		if id == self || m.MetaErr != nil || m.Meta.Role != RoleEdge || m.Meta.Region != n.cfg.Region ||
			m.Meta.WANAddr == "" || m.Meta.Leaving {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return slices.Index(ids, self) < n.cfg.WAN.members()
}

// runElection joins or leaves the WAN pool when it is time.
func (n *Node) runElection(ctx context.Context, e *election, w *wanRunner) {
	if n.wan == nil {
		return
	}
	select {
	case <-n.lan.ready:
	default:
		return // the region pool has not been joined yet: we would see only ourselves
	}
	n.mu.Lock()
	want, relaying := n.wantWAN(), n.relaying
	n.mu.Unlock()
	now := n.now()
	if want != e.wanted || e.since.IsZero() {
		e.wanted, e.since = want, now
	}
	switch {
	case want && !relaying && now.Sub(e.since) >= n.promoteAfter():
		n.promote(ctx, w)
	case !want && relaying && now.Sub(e.since) >= n.demoteAfter():
		w.stop(n, true)
		n.log.Info("left the WAN pool: other edges of the region are chosen")
	}
}

// promote starts the WAN pool and makes this node a relayer.
func (n *Node) promote(ctx context.Context, w *wanRunner) {
	n.wan.queue.Reset()
	ml, err := n.wan.create()
	if err != nil {
		n.log.Warn("WAN pool not started", "err", err)
		return
	}
	n.mu.Lock()
	n.relaying = true
	n.meta.WAN = true
	o := n.newOutbox()
	for _, d := range n.reconcileListing() {
		o.add(listBroadcast(d), poolNone, false, true)
	}
	o.events = append(o.events, n.refreshView()...)
	n.mu.Unlock()
	n.send(o)
	n.kickMeta()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	w.ml, w.cancel, w.done = ml, cancel, done
	go func() {
		defer close(done)
		n.wan.run(wctx, ml, n.wanSeeds)
	}()
	n.log.Info("joined the WAN pool", "addr", n.WANAddr())
}

// stop leaves the WAN pool (announcing it when leave is set) and makes this
// node a region pool member only. Safe when not running.
func (w *wanRunner) stop(n *Node, leave bool) {
	if w.ml == nil {
		return
	}
	n.mu.Lock()
	n.meta.WAN = false
	n.mu.Unlock()
	n.kickMeta()
	w.cancel()
	<-w.done
	if leave {
		n.mu.Lock()
		plain := n.wanMetaBytes
		if b, err := (Meta{NodeID: n.cfg.NodeID, Role: n.cfg.Role, Region: n.cfg.Region, Leaving: true}).encode(); err == nil {
			n.wanMetaBytes = b
		}
		n.mu.Unlock()
		_ = w.ml.UpdateNode(n.wan.timing.LeaveTimeout / 2)
		defer func() {
			n.mu.Lock()
			n.wanMetaBytes = plain
			n.mu.Unlock()
		}()
	}
	n.wan.shutdown(w.ml, leave)
	w.ml = nil
	n.mu.Lock()
	clear(n.wan.members)
	clear(n.wan.failed)
	n.wan.size.Store(1)
	o := n.newOutbox()
	for _, d := range n.reconcileListing() { // our WAN entries: gone
		o.add(listBroadcast(d), poolNone, false, true)
	}
	n.relaying = false
	o.relaying = false
	o.events = append(o.events, n.refreshView()...)
	n.mu.Unlock()
	n.wan.queue.Reset()
	n.send(o)
}

// wanSeeds are the WAN addresses to join through: the configured seeds and
// the relayers the fleet view knows.
func (n *Node) wanSeeds() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	self := n.WANAddr()
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if a != "" && a != self && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, s := range n.cfg.WAN.Seeds {
		add(s)
	}
	for id, m := range n.lan.members {
		if id != n.cfg.NodeID && m.MetaErr == nil && m.Meta.WAN {
			add(m.Meta.WANAddr)
		}
	}
	for _, rn := range n.remote {
		if rn.member.MetaErr == nil && rn.member.Meta.WAN {
			add(rn.member.Meta.WANAddr)
		}
	}
	return out
}
