package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/controlplane/store"
)

// dedupe is a receiver that records each event once by its id, as the
// docs tell integrators to, and counts the requests.
type dedupe struct {
	mu       sync.Mutex
	events   map[string]Body
	requests int
}

func (d *dedupe) handle(secret string) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		var buf [4096]byte
		n, _ := req.Body.Read(buf[:])
		id, body, err := VerifyHeaders(secret, req.Header, buf[:n], time.Now(), time.Minute)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		d.mu.Lock()
		d.requests++
		if d.events == nil {
			d.events = map[string]Body{}
		}
		d.events[id] = body
		d.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

func (d *dedupe) counts() (events, requests int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.events), d.requests
}

// TestTwoReplicasShareTheOutbox: two Deliverers on one store (two
// replicas) deliver each event once between them.
func TestTwoReplicasShareTheOutbox(t *testing.T) {
	rcv := &dedupe{}
	srv := newReceiverFunc(t, rcv.handle("whsec_space1"))
	f := newFixture(t)
	const n = 40
	for i := range n {
		f.addRoom("c1", "space1", fmt.Sprintf("room%d", i), srv.URL, true)
	}
	a := startDeliverer(t, testConfig(), f.st)
	b := startDeliverer(t, testConfig(), f.st)
	for i := range n {
		d := a
		if i%2 == 1 {
			d = b
		}
		d.Deliver(Event{Name: CallStarted, RoomID: store.RoomID(fmt.Sprintf("room%d", i))})
	}
	eventually(t, "every event", func() bool { e, _ := rcv.counts(); return e == n })
	time.Sleep(100 * time.Millisecond) // would a duplicate follow?
	if e, r := rcv.counts(); e != n || r != n {
		t.Fatalf("%d events in %d requests, want %d in %d", e, r, n, n)
	}
	if got := value(a.m.delivered) + value(b.m.delivered); got != n {
		t.Fatalf("delivered counters say %v", got)
	}
}

// TestReplicaDiesMidAttempt: a replica claimed a delivery and died before
// recording its attempt (its lease stays): another replica delivers it
// once the lease runs out, and the receiver has the event.
func TestReplicaDiesMidAttempt(t *testing.T) {
	rcv := &dedupe{}
	srv := newReceiverFunc(t, rcv.handle("whsec_space1"))
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", srv.URL, true)
	ctx := context.Background()
	now := time.Now()
	if _, err := f.st.EnqueueWebhookEvent(ctx, "d1", store.WebhookEvent{ID: "ev1", Name: "call_started", ClientID: "c1", SpaceID: "space1", RoomID: "room1", At: now}, now); err != nil {
		t.Fatal(err)
	}
	// The dead replica's claim: leased for 300 ms, never recorded.
	l, err := f.st.ClaimWebhookDeliveries(ctx, store.WebhookClaim{Owner: "dead", Max: 1, PerTenant: 1, Now: now, LeaseUntil: now.Add(300 * time.Millisecond)})
	if err != nil || len(l) != 1 {
		t.Fatalf("claim: %v %v", l, err)
	}
	startDeliverer(t, testConfig(), f.st)
	eventually(t, "the event from the live replica", func() bool { e, _ := rcv.counts(); return e == 1 })
	if took := time.Since(now); took < 300*time.Millisecond {
		t.Fatalf("delivered after %s, inside the dead replica's lease", took)
	}
	// The receiver has it before the replica records the answer.
	eventually(t, "the delivery recorded", func() bool { return f.deliveries("c1", "space1")[0].Status == store.DeliveryDelivered })
	if log := f.deliveries("c1", "space1"); log[0].Attempts != 2 {
		t.Fatalf("log %+v", log[0])
	}
}

// TestShutdownHandsOver: a replica stopping while its attempt hangs cuts
// it and records it to be retried at once; another replica delivers it,
// and the receiver, which dedupes on the event id, has it once.
func TestShutdownHandsOver(t *testing.T) {
	var mu sync.Mutex
	hang := true
	rcv := &dedupe{}
	ok := rcv.handle("whsec_space1")
	arrived := make(chan struct{}, 4)
	srv := newReceiverFunc(t, func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		h := hang
		mu.Unlock()
		if h {
			// Read the body: only then does the server notice the client
			// going away (and cancel the request's context).
			_, _ = io.ReadAll(req.Body)
			arrived <- struct{}{}
			<-req.Context().Done()
			return
		}
		ok(w, req)
	})
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", srv.URL, true)
	a, err := New(testConfig(), Deps{Store: f.st, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	actx, stopA := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	a.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the attempt never arrived")
	}
	mu.Lock()
	hang = false
	mu.Unlock()
	stopA()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l := f.deliveries("c1", "space1")
	if l[0].Status != store.DeliveryPending || l[0].LeaseOwner != "" {
		t.Fatalf("after the stop: %+v", l[0])
	}
	start := time.Now()
	startDeliverer(t, testConfig(), f.st)
	eventually(t, "the other replica's delivery", func() bool { e, _ := rcv.counts(); return e == 1 })
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("handed over after %s", took)
	}
}

// TestReceiverBackWithinTheWindow: a receiver down for a while gets the
// events queued meanwhile once it is back, in order per room.
func TestReceiverBackWithinTheWindow(t *testing.T) {
	var mu sync.Mutex
	down := true
	rcv := &dedupe{}
	ok := rcv.handle("whsec_space1")
	srv := newReceiverFunc(t, func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		d := down
		mu.Unlock()
		if d {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		ok(w, req)
	})
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", srv.URL, true)
	cfg := testConfig()
	cfg.Retries, cfg.RetryBackoff, cfg.MaxBackoff = 100, 10*time.Millisecond, 50*time.Millisecond
	d := startDeliverer(t, cfg, f.st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	d.Deliver(Event{Name: CallFinished, RoomID: "room1"})
	eventually(t, "a few failed attempts", func() bool { return value(d.m.retried) >= 3 })
	mu.Lock()
	down = false
	mu.Unlock()
	eventually(t, "both events", func() bool { e, _ := rcv.counts(); return e == 2 })
	// The receiver has an event before the deliverer records its answer:
	// wait for the records.
	var log []store.WebhookDelivery
	eventually(t, "both deliveries recorded", func() bool {
		log = f.deliveries("c1", "space1")
		return len(log) == 2 && log[0].Status == store.DeliveryDelivered && log[1].Status == store.DeliveryDelivered
	})
	if log[0].Status != store.DeliveryDelivered || log[1].Status != store.DeliveryDelivered || log[0].Attempts < 4 ||
		log[0].DeliveredAt.After(*log[1].DeliveredAt) {
		t.Fatalf("log %+v", log)
	}
}
