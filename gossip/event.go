package gossip

import (
	"net/netip"
	"slices"
	"sync"
)

// State is a member's state as this node sees it.
type State uint8

// Member states.
const (
	StateAlive State = iota + 1
	StateSuspect
	StateDead
	StateLeft
)

func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "unknown"
}

// Member is one node of the fleet view.
type Member struct {
	Addr  netip.AddrPort
	State State
	Meta  Meta
	// MetaErr is set when the node's metadata could not be decoded (a newer
	// or broken node): placement ignores such members.
	MetaErr error
}

// ID returns the member's node id.
func (m Member) ID() string { return m.Meta.NodeID }

// clone returns m with slices of its own.
func (m Member) clone() Member {
	m.Meta.TURNURLs = slices.Clone(m.Meta.TURNURLs)
	m.Meta.MediaAddrs = slices.Clone(m.Meta.MediaAddrs)
	return m
}

// EventKind says what happened to a member.
type EventKind uint8

// Event kinds.
const (
	// EventJoin: a node joined (or came back after a failure or partition).
	EventJoin EventKind = iota + 1
	// EventUpdate: a node changed its metadata.
	EventUpdate
	// EventLeave: a node left gracefully.
	EventLeave
	// EventFail: a node was declared dead.
	EventFail
	// EventRevoke: a revocation reached this node (or was made here), or an
	// existing one grew; Event.Revocation holds it as now in force. Edges
	// use it to disconnect a participant the revocation bars.
	EventRevoke
)

func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventUpdate:
		return "update"
	case EventLeave:
		return "leave"
	case EventFail:
		return "fail"
	case EventRevoke:
		return "revoke"
	}
	return "unknown"
}

// Event is one change of the fleet view.
type Event struct {
	Kind   EventKind
	Member Member
	// Revocation is set for EventRevoke.
	Revocation Revocation
}

// eventQueueSize bounds the events waiting for delivery; past it, events are
// dropped and counted (Nodes stays the source of truth).
const eventQueueSize = 4096

// dispatcher delivers events to subscribers on one goroutine, in order.
type dispatcher struct {
	mu      sync.Mutex
	subs    map[int]func(Event)
	next    int
	ch      chan Event
	dropped uint64
}

func newDispatcher() *dispatcher {
	return &dispatcher{subs: map[int]func(Event){}, ch: make(chan Event, eventQueueSize)}
}

func (d *dispatcher) subscribe(fn func(Event)) func() {
	d.mu.Lock()
	id := d.next
	d.next++
	d.subs[id] = fn
	d.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			delete(d.subs, id)
			d.mu.Unlock()
		})
	}
}

// post queues an event without blocking.
func (d *dispatcher) post(e Event) {
	select {
	case d.ch <- e:
	default:
		d.mu.Lock()
		d.dropped++
		d.mu.Unlock()
	}
}

// run delivers events until done is closed.
func (d *dispatcher) run(done <-chan struct{}) {
	for {
		select {
		case e := <-d.ch:
			d.mu.Lock()
			fns := make([]func(Event), 0, len(d.subs))
			for _, fn := range d.subs {
				fns = append(fns, fn)
			}
			d.mu.Unlock()
			for _, fn := range fns {
				fn(e)
			}
		case <-done:
			return
		}
	}
}
