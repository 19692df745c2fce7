package gossip

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/hashicorp/memberlist"
)

// poolDelegate adapts one of the Node's pools to memberlist.Delegate.
// Memberlist calls it from its own goroutines, concurrently; every method
// takes the node's mutex briefly and never calls back into memberlist, nor
// queues a broadcast, while holding it.
type poolDelegate struct {
	p *pool
}

var _ memberlist.Delegate = (*poolDelegate)(nil)

// NodeMeta implements memberlist.Delegate.
func (d *poolDelegate) NodeMeta(limit int) []byte {
	n := d.p.n
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.metaBytes
	if d.p.kind == poolWAN {
		b = n.wanMetaBytes
	}
	if len(b) > limit {
		return nil
	}
	return slices.Clone(b)
}

// NotifyMsg implements memberlist.Delegate: a room change, a listing
// change, a node's record or a revocation.
func (d *poolDelegate) NotifyMsg(b []byte) { d.p.n.handleMsg(d.p.kind, b) }

// GetBroadcasts implements memberlist.Delegate.
func (d *poolDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.p.queue.GetBroadcasts(overhead, limit)
}

// LocalState implements memberlist.Delegate: this node's replicated state,
// for a push/pull.
func (d *poolDelegate) LocalState(bool) []byte { return d.p.n.localState(d.p.kind) }

// MergeRemoteState implements memberlist.Delegate.
func (d *poolDelegate) MergeRemoteState(buf []byte, _ bool) {
	d.p.pushPulls.Add(1)
	d.p.n.mergeState(d.p.kind, buf)
}

// poolEvents adapts a pool to memberlist.EventDelegate. Memberlist calls it
// with its node lock held: it updates the views and queues events and
// broadcasts, and never blocks.
type poolEvents poolDelegate

var _ memberlist.EventDelegate = (*poolEvents)(nil)

// NotifyJoin implements memberlist.EventDelegate.
func (e *poolEvents) NotifyJoin(mn *memberlist.Node) { e.p.n.memberUp(e.p, mn, true) }

// NotifyUpdate implements memberlist.EventDelegate.
func (e *poolEvents) NotifyUpdate(mn *memberlist.Node) { e.p.n.memberUp(e.p, mn, false) }

// NotifyLeave implements memberlist.EventDelegate: a node left or was
// declared dead.
func (e *poolEvents) NotifyLeave(mn *memberlist.Node) { e.p.n.memberDown(e.p, mn) }

// errOtherRegion refuses a node of another region into a region's pool.
var errOtherRegion = errors.New("gossip: a node of another region in this region's pool")

// regionGuard adapts a region pool to memberlist.AliveDelegate when the
// node has a wan section: a node whose metadata names another region is
// not let into the pool (memberlist ignores its alive messages and logs
// why). Regions meet in the WAN pool; a node of another region in ours,
// joined through a seed of the wrong region, would be probed with our
// region's timing across the WAN, which is what the pools are there to
// avoid. Metadata that cannot be decoded is let through, as everywhere.
type regionGuard poolDelegate

var _ memberlist.AliveDelegate = (*regionGuard)(nil)

// NotifyAlive implements memberlist.AliveDelegate.
func (g *regionGuard) NotifyAlive(mn *memberlist.Node) error {
	m, err := decodeMeta(mn.Meta)
	if err != nil || m.Region == "" || m.Region == g.p.n.cfg.Region {
		return nil
	}
	return fmt.Errorf("%w: %s is of region %q, this pool of %q (give each node seeds of its own region; regions meet in the WAN pool)",
		errOtherRegion, mn.Name, m.Region, g.p.n.cfg.Region)
}

// poolConflicts logs two nodes claiming one id.
type poolConflicts poolDelegate

// NotifyConflict implements memberlist.ConflictDelegate.
func (c *poolConflicts) NotifyConflict(existing, other *memberlist.Node) {
	c.p.log.Warn("node id conflict", "peer", existing.Name, "existing", existing.Address(), "other", other.Address())
}

func (n *Node) memberOf(mn *memberlist.Node) Member {
	m := Member{State: StateAlive}
	if a, ok := netip.AddrFromSlice(mn.Addr); ok {
		m.Addr = netip.AddrPortFrom(a.Unmap(), mn.Port)
	}
	m.Meta, m.MetaErr = decodeMeta(mn.Meta)
	if m.MetaErr == nil {
		m.MetaErr = n.urls.check(m.Meta)
	}
	if m.MetaErr != nil || m.Meta.NodeID != mn.Name {
		// Index by memberlist's name whatever the metadata says.
		m.Meta.NodeID = mn.Name
	}
	return m
}

// outbox collects, under the node's mutex, the broadcasts and events to
// hand out once it is released.
type outbox struct {
	relaying bool
	lan, wan []broadcast
	events   []Event
}

// add routes a broadcast (see routes).
func (o *outbox) add(b broadcast, from poolKind, merged, lanOwned bool) {
	toLAN, toWAN := routes(from, merged, lanOwned, o.relaying)
	if toLAN {
		o.lan = append(o.lan, b)
	}
	if toWAN {
		o.wan = append(o.wan, b)
	}
}

// addRecord routes a node's record: never into its own region's pool,
// which has the node's metadata first hand.
func (o *outbox) addRecord(r record, from poolKind, merged, lanOwned bool) {
	toLAN, toWAN := routes(from, merged, lanOwned, o.relaying)
	b := broadcast{key: "m/" + r.ID, msg: encodeMsg(msgRecord, r)}
	if toLAN && !lanOwned {
		o.lan = append(o.lan, b)
	}
	if toWAN {
		o.wan = append(o.wan, b)
	}
}

func dirBroadcast(d dirDelta) broadcast {
	return broadcast{key: "d/" + d.Origin + "/" + d.Name, msg: encodeMsg(msgRoom, d)}
}

func listBroadcast(d listDelta) broadcast {
	return broadcast{key: "l/" + d.Origin + "/" + d.Name, msg: encodeMsg(msgList, d)}
}

// newOutbox starts an outbox; call with the mutex held.
func (n *Node) newOutbox() *outbox { return &outbox{relaying: n.relaying} }

// send queues what o collected and posts its events; call without the
// mutex.
func (n *Node) send(o *outbox) {
	for _, b := range o.lan {
		n.lan.queueMsg(b)
	}
	if n.wan != nil {
		for _, b := range o.wan {
			n.wan.queueMsg(b)
		}
	}
	for _, e := range o.events {
		n.events.post(e)
	}
}

// lanOwned reports whether node is a member of this node's region pool
// (this node included). Call with the mutex held.
func (n *Node) lanOwned(node string) bool {
	_, ok := n.lan.members[node]
	return ok || node == n.cfg.NodeID
}

// handleMsg applies a broadcast that arrived from pool from.
func (n *Node) handleMsg(from poolKind, b []byte) {
	msg, err := decodeMsg(b)
	if err != nil {
		n.log.Debug("bad gossip message", "pool", from.String(), "err", err)
		return
	}
	n.mu.Lock()
	o := n.newOutbox()
	switch m := msg.(type) {
	case dirDelta:
		refute, changed := n.dir.apply(m)
		if changed {
			// Pass it on: gossip is epidemic, the queue bounds retransmits.
			o.add(dirBroadcast(m), from, false, n.lanOwned(m.Origin))
		}
		for _, r := range refute {
			o.add(dirBroadcast(r), poolNone, false, true)
		}
	case listDelta:
		refute, changed := n.lists.apply(m)
		if changed {
			o.add(listBroadcast(m), from, false, n.lanOwned(m.Origin))
			o.events = append(o.events, n.refreshView()...)
		}
		for _, r := range refute {
			o.add(listBroadcast(r), poolNone, false, true)
		}
	case record:
		if !n.lanOwned(m.ID) && n.applyRecord(m) {
			o.addRecord(m, from, false, false)
			o.events = append(o.events, n.refreshView()...)
		}
	case Revocation:
		if n.rev.add(m, n.now()) {
			// Pass on the merged entry: it replaces any queued older one.
			m = n.rev.get(m)
			o.add(revokeBroadcast(m), from, false, from != poolWAN)
			o.events = append(o.events, Event{Kind: EventRevoke, Revocation: m})
		}
	}
	n.mu.Unlock()
	n.send(o)
}

// applyRecord stores r if it is newer than what we have. Call with the
// mutex held.
func (n *Node) applyRecord(r record) bool {
	rn, ok := newRemoteNode(r, n.urls, n.now())
	if !ok {
		return false
	}
	if cur := n.nodes[r.ID]; cur != nil && rn.seq <= cur.seq {
		return false
	}
	n.nodes[r.ID] = rn
	return true
}

// localState is the user part of a push/pull in pool kind. The region
// pool gets everything this node knows; the WAN pool gets what this node's
// region owns (the peer's region gets the rest from its own relayers), so
// that a WAN sync costs one region's state, not the fleet's.
func (n *Node) localState(kind poolKind) []byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := state{Revoke: n.rev.list(n.now())}
	if kind == poolLAN {
		s.Rooms = n.dir.snapshot(nil)
		s.Lists = n.lists.snapshot(nil)
		for id, rn := range n.nodes {
			if !n.lanOwned(id) {
				s.Records = append(s.Records, rn.rec)
			}
		}
	} else {
		s.Rooms = n.dir.snapshot(n.lanOwned)
		s.Lists = n.lists.snapshot(n.lanOwned)
		for id := range n.lan.members {
			if r, ok := n.raw[id]; ok {
				s.Records = append(s.Records, r)
			}
		}
	}
	return encodeState(s)
}

// mergeState folds a peer's push/pull state from pool kind into ours, and
// passes the news on to the other pool.
func (n *Node) mergeState(kind poolKind, buf []byte) {
	s, err := decodeState(buf)
	if err != nil {
		n.log.Debug("bad remote state", "pool", kind.String(), "err", err)
		return
	}
	n.mu.Lock()
	o := n.newOutbox()
	now := n.now()
	refute, news := n.dir.merge(s.Rooms)
	for _, d := range news {
		o.add(dirBroadcast(d), kind, true, n.lanOwned(d.Origin))
	}
	for _, d := range refute {
		o.add(dirBroadcast(d), poolNone, false, true)
	}
	lRefute, lNews := n.lists.merge(s.Lists)
	for _, d := range lNews {
		o.add(listBroadcast(d), kind, true, n.lanOwned(d.Origin))
	}
	for _, d := range lRefute {
		o.add(listBroadcast(d), poolNone, false, true)
	}
	recs := 0
	for _, r := range s.Records {
		if !n.lanOwned(r.ID) && n.applyRecord(r) {
			o.addRecord(r, kind, true, false)
			recs++
		}
	}
	for _, r := range s.Revoke {
		if n.rev.add(r, now) {
			r = n.rev.get(r)
			o.add(revokeBroadcast(r), kind, true, kind != poolWAN)
			o.events = append(o.events, Event{Kind: EventRevoke, Revocation: r})
		}
	}
	if len(lNews)+recs > 0 {
		o.events = append(o.events, n.refreshView()...)
	}
	n.mu.Unlock()
	n.send(o)
}

// memberUp handles a join (or a metadata update) in pool p.
func (n *Node) memberUp(p *pool, mn *memberlist.Node, join bool) {
	m := n.memberOf(mn)
	n.mu.Lock()
	old, had := p.members[mn.Name]
	p.members[mn.Name] = m
	p.size.Store(int64(len(p.members)))
	if join {
		delete(p.failed, mn.Name)
	}
	o := n.newOutbox()
	roleChanged := !had || old.Meta.WAN != m.Meta.WAN || old.Meta.Leaving != m.Meta.Leaving || old.Meta.WANAddr != m.Meta.WANAddr
	if p.kind == poolLAN {
		r := record{ID: mn.Name, Addr: mn.Address(), Meta: slices.Clone(mn.Meta)}
		n.raw[mn.Name] = r
		if join {
			n.dir.revive(mn.Name)
		}
		kind := EventUpdate
		if join {
			kind = EventJoin
		}
		o.events = append(o.events, Event{Kind: kind, Member: m})
		// Our region's metadata goes to the others.
		o.addRecord(r, poolNone, false, true)
	}
	if join || roleChanged {
		for _, d := range n.reconcileListing() {
			o.add(listBroadcast(d), poolNone, false, true)
		}
		o.events = append(o.events, n.refreshView()...)
	}
	n.mu.Unlock()
	n.send(o)
	if p.kind == poolLAN && roleChanged {
		n.kickElection()
	}
	if join && mn.Name != n.cfg.NodeID {
		select {
		case p.syncCh <- mn.Address():
		default:
		}
	}
}

// memberDown handles a node that left pool p or was declared dead there.
// Its rooms are dropped when it was a member of our region's pool; a dead
// (not departed) node is retried by the pool's reconnect.
func (n *Node) memberDown(p *pool, mn *memberlist.Node) {
	m := n.memberOf(mn)
	// memberlist does not say whether the node left or died (Node.State is
	// not kept up to date): a graceful leaver set Leaving first.
	kind := EventFail
	m.State = StateDead
	if m.MetaErr == nil && m.Meta.Leaving {
		kind = EventLeave
		m.State = StateLeft
	}
	n.mu.Lock()
	now := n.now()
	delete(p.members, mn.Name)
	p.size.Store(int64(max(len(p.members), 1)))
	if kind == EventFail {
		p.failed[mn.Name] = failedNode{addr: mn.Address(), region: m.Meta.Region, at: now}
	} else {
		delete(p.failed, mn.Name)
	}
	o := n.newOutbox()
	if p.kind == poolLAN {
		delete(n.raw, mn.Name)
		n.dir.drop(mn.Name, now)
		o.events = append(o.events, Event{Kind: kind, Member: m})
	}
	for _, d := range n.reconcileListing() {
		o.add(listBroadcast(d), poolNone, false, true)
	}
	o.events = append(o.events, n.refreshView()...)
	n.mu.Unlock()
	n.send(o)
	if p.kind == poolLAN {
		n.kickElection()
	}
}

// reconcileListing brings this relayer's own listing in line with its
// pools and returns the changes to broadcast. Call with the mutex held.
func (n *Node) reconcileListing() []listDelta {
	if !n.relaying {
		return nil
	}
	now := n.now()
	want := make(map[string]listValue, len(n.lan.members))
	for id := range n.lan.members {
		want[id] = listValue{Alive: true}
	}
	if n.wan != nil {
		for id, m := range n.wan.members {
			// Only other regions' nodes: our region's pool has the last
			// word on ours (a relayer of ours that crashed stays in the WAN
			// pool until its slower verdict, and must be listed as gone).
			if _, ok := want[id]; !ok && m.Meta.Region != n.cfg.Region {
				want[id] = listValue{Alive: true, WAN: true}
			}
		}
	}
	var out []listDelta
	for id, v := range want {
		if cur, ok := n.lists.ownValue(id); !ok || cur != v {
			out = append(out, n.lists.set(id, v))
			delete(n.deadAt, id)
		}
	}
	for id, cur := range n.lists.own {
		if _, ok := want[id]; ok {
			continue
		}
		if cur.Alive {
			out = append(out, n.lists.set(id, listValue{WAN: cur.WAN}))
			n.deadAt[id] = now
			continue
		}
		if now.Sub(n.deadAt[id]) > remoteTTL {
			if d, ok := n.lists.remove(id); ok {
				out = append(out, d)
			}
			delete(n.deadAt, id)
		}
	}
	return out
}

// refreshView recomputes the nodes of other regions this node sees and
// returns the events of what changed. Call with the mutex held.
func (n *Node) refreshView() []Event {
	view, used := relayedView(viewInput{
		self: n.cfg.NodeID, selfRelays: n.relaying, lan: n.lan.members, lists: n.lists, nodes: n.nodes,
	})
	now := n.now()
	for _, id := range used {
		n.listSeen[id] = now
	}
	var evs []Event
	for id, rn := range view {
		rn.seen = now
		switch old, ok := n.remote[id]; {
		case !ok:
			n.dir.revive(id)
			evs = append(evs, Event{Kind: EventJoin, Member: rn.member})
		case old != rn:
			evs = append(evs, Event{Kind: EventUpdate, Member: rn.member})
		}
	}
	for id, old := range n.remote {
		if _, ok := view[id]; ok {
			continue
		}
		if _, inLAN := n.lan.members[id]; inLAN {
			continue // it is ours now: the region pool told its story
		}
		m := old.member
		kind := EventFail
		m.State = StateDead
		if m.MetaErr == nil && m.Meta.Leaving {
			kind = EventLeave
			m.State = StateLeft
		}
		evs = append(evs, Event{Kind: kind, Member: m})
	}
	n.remote = view
	return evs
}
