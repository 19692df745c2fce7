package webhook

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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
// PerTenant workers, and that tenant's attempts in flight never exceed it.
func TestSlowTenantDoesNotHoldOthersWorkers(t *testing.T) {
	slow := newStuckReceiver(t)
	fast := newReceiver(t, nil)
	f := newFixture(t)
	for i := range 12 {
		f.addRoom("slow", "slow-space", fmt.Sprintf("slow-room-%d", i), slow.URL, true)
	}
	f.addRoom("fast", "fast-space", "fast-room", fast.URL, true)
	cfg := testConfig()
	cfg.Workers, cfg.PerTenant = 4, 2
	d := startDeliverer(t, cfg, f.st)
	for i := range 12 {
		d.Deliver(Event{Name: CallStarted, RoomID: store.RoomID(fmt.Sprintf("slow-room-%d", i))})
	}
	eventually(t, "the slow tenant's attempts to hang", func() bool { return slow.inflight.Load() == 2 })
	start := time.Now()
	d.Deliver(Event{Name: CallStarted, RoomID: "fast-room"})
	eventually(t, "the other tenant's delivery", func() bool { b, _ := fast.got(); return len(b) == 1 })
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the other tenant waited %s", took)
	}
	if p := slow.peak.Load(); p > 2 {
		t.Fatalf("the slow tenant had %d attempts in flight, PerTenant is 2", p)
	}
	slow.free()
	eventually(t, "the slow tenant's events", func() bool { return value(d.m.delivered) == 13 })
}

// TestDeliveryGivesUpAtItsWindow: a receiver that never recovers gets
// attempts until the retry window ends, then the delivery is given up.
func TestDeliveryGivesUpAtItsWindow(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return 503 })
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", rcv.URL, true)
	cfg := testConfig()
	cfg.Retries, cfg.RetryBackoff, cfg.MaxBackoff = 100, 20*time.Millisecond, 50*time.Millisecond
	cfg.Timeout, cfg.DeliveryTimeout = 100*time.Millisecond, 300*time.Millisecond
	d := startDeliverer(t, cfg, f.st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	eventually(t, "the delivery to be given up", func() bool { return value(d.m.failed.WithLabelValues("timeout")) == 1 })
	if r := value(d.m.retried); r >= 20 {
		t.Fatalf("%v retries: the window did not cut them", r)
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
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", rcv.URL, true)
	f.addRoom("c1", "space1", "room2", rcv.URL, true)
	cfg := testConfig()
	cfg.Workers, cfg.PerTenant, cfg.Timeout = 1, 1, 200*time.Millisecond
	d := startDeliverer(t, cfg, f.st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	d.Deliver(Event{Name: CallStarted, RoomID: "room2"})
	eventually(t, "both deliveries through one worker", func() bool { return value(d.m.delivered) == 2 })
}
