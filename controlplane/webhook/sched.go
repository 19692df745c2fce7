package webhook

import (
	"sync"

	"github.com/spacecast/spacecast/controlplane/store"
)

// job is one event ready for delivery: its webhook and signed payload.
type job struct {
	ev      Event
	url     string
	payload []byte
}

// sched holds the jobs waiting for a worker, a FIFO per tenant (API
// client), and hands them out so that no tenant has more than perTenant in
// flight, tenants take turns (round robin), and a room never has two in
// flight (its events leave in order). A tenant whose receiver is slow
// fills its own slots and its own queue, never the others'. Safe for
// concurrent use; it starts no goroutine.
type sched struct {
	perTenant, tenantQueue, maxPending int

	mu      sync.Mutex
	tenants map[store.ClientID]*tenantQueue
	ring    []store.ClientID // tenants with jobs waiting or in flight
	next    int              // ring position of the next turn
	busy    map[store.RoomID]bool
	pending int
	// wake has room for one signal: a worker that finds nothing to take
	// waits on it; whoever makes a job takeable signals.
	wake chan struct{}
}

type tenantQueue struct {
	jobs     []job
	inflight int
}

func newSched(perTenant, perQueue, maxPending int) *sched {
	return &sched{perTenant: perTenant, tenantQueue: perQueue, maxPending: maxPending,
		tenants: map[store.ClientID]*tenantQueue{}, busy: map[store.RoomID]bool{}, wake: make(chan struct{}, 1)}
}

// full tells which bound refused a job.
type full int

const (
	notFull full = iota
	tenantFull
	allFull
)

// add queues j for its tenant.
func (s *sched) add(j job) full {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending >= s.maxPending {
		return allFull
	}
	t := s.tenants[j.ev.ClientID]
	if t == nil {
		t = &tenantQueue{}
		s.tenants[j.ev.ClientID] = t
		s.ring = append(s.ring, j.ev.ClientID)
	}
	if len(t.jobs) >= s.tenantQueue {
		return tenantFull
	}
	t.jobs = append(t.jobs, j)
	s.pending++
	s.signal()
	return notFull
}

// take hands out the next job a worker may deliver, if any.
func (s *sched) take() (job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range len(s.ring) {
		if s.next >= len(s.ring) {
			s.next = 0
		}
		id := s.ring[s.next]
		s.next++
		t := s.tenants[id]
		if t.inflight >= s.perTenant {
			continue
		}
		for i, j := range t.jobs {
			if s.busy[j.ev.RoomID] {
				continue // an earlier event of the room is in flight
			}
			t.jobs = append(t.jobs[:i], t.jobs[i+1:]...)
			t.inflight++
			s.busy[j.ev.RoomID] = true
			s.pending--
			if s.pending > 0 {
				s.signal() // maybe more for another worker
			}
			return j, true
		}
	}
	return job{}, false
}

// done releases what take gave j.
func (s *sched) done(j job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.busy, j.ev.RoomID)
	t := s.tenants[j.ev.ClientID]
	t.inflight--
	if t.inflight == 0 && len(t.jobs) == 0 {
		delete(s.tenants, j.ev.ClientID)
		for i, id := range s.ring {
			if id == j.ev.ClientID {
				s.ring = append(s.ring[:i], s.ring[i+1:]...)
				if s.next > i {
					s.next--
				}
				break
			}
		}
	}
	if s.pending > 0 {
		s.signal()
	}
}

// drain empties the queues and returns how many jobs they held.
func (s *sched) drain() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.pending
	for _, t := range s.tenants {
		t.jobs = nil
	}
	s.pending = 0
	return n
}

// signal wakes one waiting worker (never blocks; called with mu held).
func (s *sched) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
