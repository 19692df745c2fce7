package webhook

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// stuckReceiver holds every request until release is closed, counting the
// requests in flight and their peak.
type stuckReceiver struct {
	*httptest.Server
	release        chan struct{}
	inflight, peak atomic.Int32
	once           sync.Once
}

func newStuckReceiver(t *testing.T) *stuckReceiver {
	r := &stuckReceiver{release: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.inflight.Add(1)
		defer r.inflight.Add(-1)
		for {
			p := r.peak.Load()
			if n <= p || r.peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-r.release:
		case <-req.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() { r.free(); r.Close() })
	return r
}

func (r *stuckReceiver) free() { r.once.Do(func() { close(r.release) }) }

// TestSlowTenantDoesNotHoldOthersWorkers: one tenant's receiver hangs on
// every request, with many events queued for it; another tenant's event
// is delivered at once all the same, because a tenant gets at most
// PerTenant workers, and that tenant's in-flight deliveries never exceed
// it.
func TestSlowTenantDoesNotHoldOthersWorkers(t *testing.T) {
	slow := newStuckReceiver(t)
	fast := newReceiver(t, nil)
	st := newMemStore()
	for i := range 12 {
		st.addRoomOf("slow", fmt.Sprintf("slow-room-%d", i), "slow-space", slow.URL, true)
	}
	st.addRoomOf("fast", "fast-room", "fast-space", fast.URL, true)
	cfg := testConfig()
	cfg.Workers, cfg.PerTenant = 4, 2
	cfg.Timeout, cfg.DeliveryTimeout = time.Minute, time.Minute // the hang outlasts the test
	d := startDeliverer(t, cfg, st)
	for i := range 12 {
		d.Deliver(Event{Name: CallStarted, RoomID: store.RoomID(fmt.Sprintf("slow-room-%d", i))})
	}
	eventually(t, "the slow tenant's deliveries to start", func() bool { return slow.inflight.Load() == 2 })
	d.Deliver(Event{Name: CallStarted, RoomID: "fast-room"})
	eventually(t, "the other tenant's event to be delivered while the slow receiver hangs", func() bool { return value(d.m.delivered) == 1 })
	if b, _ := fast.got(); len(b) != 1 {
		t.Fatalf("the fast receiver got %d requests", len(b))
	}
	if p := slow.peak.Load(); p > 2 {
		t.Fatalf("the slow tenant had %d deliveries in flight, more than perTenant (2)", p)
	}
	slow.free()
	eventually(t, "the slow tenant's events once its receiver answers", func() bool { return value(d.m.delivered) == 13 })
	if p := slow.peak.Load(); p > 2 {
		t.Fatalf("the slow tenant had %d deliveries in flight, more than perTenant (2)", p)
	}
}

// TestTenantQueueBoundsOneTenant: a tenant whose events pile up (its
// receiver hangs) drops its own beyond TenantQueue; another tenant's events
// still find room.
func TestTenantQueueBoundsOneTenant(t *testing.T) {
	slow := newStuckReceiver(t)
	fast := newReceiver(t, nil)
	st := newMemStore()
	st.addRoomOf("slow", "slow-room", "slow-space", slow.URL, true)
	st.addRoomOf("fast", "fast-room", "fast-space", fast.URL, true)
	cfg := testConfig()
	cfg.Workers, cfg.PerTenant, cfg.QueueSize, cfg.TenantQueue = 2, 1, 16, 4
	cfg.Timeout, cfg.DeliveryTimeout = time.Minute, time.Minute
	d := startDeliverer(t, cfg, st)
	d.Deliver(Event{Name: CallStarted, RoomID: "slow-room"})
	eventually(t, "the slow delivery to start", func() bool { return slow.inflight.Load() == 1 })
	for range 10 {
		d.Deliver(Event{Name: CallFinished, RoomID: "slow-room"})
	}
	eventually(t, "the slow tenant's overflow to be dropped", func() bool {
		return value(d.m.dropped.WithLabelValues("tenant_queue_full")) == 6
	})
	d.Deliver(Event{Name: CallStarted, RoomID: "fast-room"})
	eventually(t, "the other tenant's event", func() bool { return value(d.m.delivered) == 1 })
}

// TestDeliveryGivesUpAtItsTimeBudget: a receiver that never answers costs
// at most DeliveryTimeout of a worker's time per event, whatever the
// retries and the per-attempt timeout would add up to.
func TestDeliveryGivesUpAtItsTimeBudget(t *testing.T) {
	stuck := newStuckReceiver(t)
	st := newMemStore()
	st.addRoom("room1", "space1", stuck.URL, true)
	cfg := testConfig()
	cfg.Timeout, cfg.Retries, cfg.DeliveryTimeout = 200*time.Millisecond, 20, 500*time.Millisecond
	d := startDeliverer(t, cfg, st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	eventually(t, "the delivery to be given up", func() bool { return value(d.m.failed.WithLabelValues("timeout")) == 1 })
	if r := value(d.m.retried); r >= 20 {
		t.Fatalf("%v retries: the budget did not cut them", r)
	}
}

// TestAttemptTimeBudgetCoversTheAnswer: an attempt's Timeout covers the
// whole exchange, the answer's body included: a receiver that answers 200
// and then trickles its body forever does not hold the worker.
func TestAttemptTimeBudgetCoversTheAnswer(t *testing.T) {
	release := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(http.StatusOK)
		for {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-release:
				return
			case <-req.Context().Done():
				return
			case <-time.After(10 * time.Millisecond): // the trickle's pace
			}
		}
	}))
	t.Cleanup(func() { close(release); rcv.Close() })
	st := newMemStore()
	st.addRoom("room1", "space1", rcv.URL, true)
	st.addRoom("room2", "space1", rcv.URL, true)
	cfg := testConfig()
	cfg.Workers, cfg.PerTenant, cfg.Timeout = 1, 1, 200*time.Millisecond
	d := startDeliverer(t, cfg, st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	d.Deliver(Event{Name: CallStarted, RoomID: "room2"})
	eventually(t, "both deliveries through one worker", func() bool { return value(d.m.delivered) == 2 })
}

// TestGuardRefusesLocalUseNAT64: the local-use NAT64 prefix (RFC 8215,
// 64:ff9b:1::/48) translates to whatever IPv4 network the operator's
// translator serves, private ones included, at an offset the guard cannot
// know: it is refused outright.
func TestGuardRefusesLocalUseNAT64(t *testing.T) {
	g, err := newGuard(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"64:ff9b:1::a00:1", "64:ff9b:1::5db8:d70e", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "64:ff9b:1:a00:1::"} {
		if err := g.check(netip.MustParseAddr(a)); err == nil {
			t.Errorf("check(%s) = nil, want refused", a)
		}
	}
	if err := g.check(netip.MustParseAddr("64:ff9b::5db8:d70e")); err != nil {
		t.Errorf("the well-known NAT64 prefix with a public address is refused: %v", err)
	}
}
