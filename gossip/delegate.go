package gossip

import (
	"net/netip"
	"slices"

	"github.com/hashicorp/memberlist"
)

// delegate adapts Node to memberlist.Delegate. Memberlist calls it from its
// own goroutines, concurrently; every method takes the node's mutex briefly
// and never calls back into memberlist while holding it.
type delegate struct {
	n *Node
}

var _ memberlist.Delegate = (*delegate)(nil)

// NodeMeta implements memberlist.Delegate.
func (d *delegate) NodeMeta(limit int) []byte {
	d.n.mu.Lock()
	defer d.n.mu.Unlock()
	if len(d.n.metaBytes) > limit {
		return nil
	}
	return slices.Clone(d.n.metaBytes)
}

// NotifyMsg implements memberlist.Delegate: a room change or a revocation.
func (d *delegate) NotifyMsg(b []byte) {
	msg, err := decodeMsg(b)
	if err != nil {
		d.n.log.Debug("bad gossip message", "err", err)
		return
	}
	n := d.n
	switch m := msg.(type) {
	case dirDelta:
		n.mu.Lock()
		refute, changed := n.dir.apply(m)
		n.mu.Unlock()
		if changed {
			// Pass it on: gossip is epidemic, the queue bounds retransmits.
			n.queueDelta(m)
		}
		for _, r := range refute {
			n.queueDelta(r)
		}
	case Revocation:
		n.mu.Lock()
		news := n.rev.add(m, n.now())
		if news {
			m = n.rev.get(m)
		}
		n.mu.Unlock()
		if news {
			n.queue.QueueBroadcast(broadcast{key: revokeBroadcastKey(m), msg: encodeMsg(msgRevoke, m)})
			n.events.post(Event{Kind: EventRevoke, Revocation: m})
		}
	}
}

// GetBroadcasts implements memberlist.Delegate.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.queue.GetBroadcasts(overhead, limit)
}

// LocalState implements memberlist.Delegate: the room directory and the
// revocations, for a push/pull.
func (d *delegate) LocalState(bool) []byte {
	n := d.n
	n.mu.Lock()
	s := state{Dir: n.dir.snapshot(), Revoke: n.rev.list(n.now())}
	n.mu.Unlock()
	return encodeMsg(0, s)[1:]
}

// MergeRemoteState implements memberlist.Delegate.
func (d *delegate) MergeRemoteState(buf []byte, _ bool) {
	n := d.n
	s, err := decodeState(buf)
	if err != nil {
		n.log.Debug("bad remote state", "err", err)
		return
	}
	n.mu.Lock()
	now := n.now()
	refute := n.dir.merge(s.Dir)
	var news []Revocation
	for _, r := range s.Revoke {
		if n.rev.add(r, now) {
			news = append(news, n.rev.get(r))
		}
	}
	n.mu.Unlock()
	for _, r := range refute {
		n.queueDelta(r)
	}
	for _, r := range news {
		n.events.post(Event{Kind: EventRevoke, Revocation: r})
	}
}

// eventDelegate adapts Node to memberlist.EventDelegate. Memberlist calls it
// with its node lock held: it updates the fleet view and queues the event
// for the dispatcher, and never blocks.
type eventDelegate delegate

var _ memberlist.EventDelegate = (*eventDelegate)(nil)

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

// NotifyJoin implements memberlist.EventDelegate.
func (e *eventDelegate) NotifyJoin(mn *memberlist.Node) {
	n := e.n
	m := n.memberOf(mn)
	n.mu.Lock()
	n.fleet[mn.Name] = m
	delete(n.failed, mn.Name)
	n.dir.revive(mn.Name)
	n.mu.Unlock()
	n.events.post(Event{Kind: EventJoin, Member: m})
	if mn.Name != n.cfg.NodeID {
		select {
		case n.syncCh <- mn.Address():
		default:
		}
	}
}

// NotifyUpdate implements memberlist.EventDelegate.
func (e *eventDelegate) NotifyUpdate(mn *memberlist.Node) {
	n := e.n
	m := n.memberOf(mn)
	n.mu.Lock()
	n.fleet[mn.Name] = m
	n.mu.Unlock()
	n.events.post(Event{Kind: EventUpdate, Member: m})
}

// NotifyLeave implements memberlist.EventDelegate: a node left or was
// declared dead. Its rooms are dropped; a dead (not departed) node is
// retried by Run's reconnect.
func (e *eventDelegate) NotifyLeave(mn *memberlist.Node) {
	n := e.n
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
	delete(n.fleet, mn.Name)
	n.dir.drop(mn.Name, now)
	if kind == EventFail {
		n.failed[mn.Name] = failedNode{addr: mn.Address(), at: now}
	} else {
		delete(n.failed, mn.Name)
	}
	n.mu.Unlock()
	n.events.post(Event{Kind: kind, Member: m})
}

// conflictDelegate logs two nodes claiming one id.
type conflictDelegate delegate

// NotifyConflict implements memberlist.ConflictDelegate.
func (c *conflictDelegate) NotifyConflict(existing, other *memberlist.Node) {
	c.n.log.Warn("node id conflict", "peer", existing.Name, "existing", existing.Address(), "other", other.Address())
}
