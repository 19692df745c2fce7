package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/spacecast/spacecast/controlplane/store"
)

func TestDeliveryAttempts(t *testing.T) {
	tests := []struct {
		name     string
		status   func(n int) int
		attempts int
		final    store.DeliveryStatus
		stats    string
	}{
		{"first try", func(int) int { return 200 }, 1, store.DeliveryDelivered, "delivered=1 retried=0"},
		{"fails twice then succeeds", func(n int) int {
			if n <= 2 {
				return 500
			}
			return 204
		}, 3, store.DeliveryDelivered, "delivered=1 retried=2"},
		{"always 503: 1+3 attempts then given up", func(int) int { return 503 }, 4, store.DeliveryFailed, "delivered=0 retried=3 failed:exhausted=1"},
		{"429 is retried", func(n int) int {
			if n == 1 {
				return 429
			}
			return 200
		}, 2, store.DeliveryDelivered, "delivered=1 retried=1"},
		{"400 is final", func(int) int { return 400 }, 1, store.DeliveryFailed, "delivered=0 retried=0 failed:rejected=1"},
		{"410 is final", func(int) int { return 410 }, 1, store.DeliveryFailed, "delivered=0 retried=0 failed:rejected=1"},
		{"a redirect is not followed", func(int) int { return 307 }, 1, store.DeliveryFailed, "delivered=0 retried=0 failed:rejected=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, tt.status)
			f := newFixture(t)
			f.addRoom("c1", "space1", "room1", rcv.URL+"/hook", true)
			d := startDeliverer(t, testConfig(), f.st)
			if !d.Deliver(Event{Name: CallStarted, RoomID: "room1"}) {
				t.Fatal("Deliver() = false")
			}
			var log []store.WebhookDelivery
			eventually(t, "the delivery to settle", func() bool {
				log = f.deliveries("c1", "space1")
				return len(log) == 1 && log[0].Status != store.DeliveryPending
			})
			// The counters follow the store's record of the last attempt.
			eventually(t, "the counters "+tt.stats, func() bool { return d.stats() == tt.stats })
			bodies, hdrs := rcv.got()
			if len(bodies) != tt.attempts || log[0].Attempts != tt.attempts || log[0].Status != tt.final {
				t.Fatalf("%d attempts (log: %d, %s), want %d, %s", len(bodies), log[0].Attempts, log[0].Status, tt.attempts, tt.final)
			}
			if s := d.stats(); s != tt.stats {
				t.Fatalf("counters %q, want %q", s, tt.stats)
			}
			if tt.final == store.DeliveryFailed && (log[0].LastError == "" || log[0].LastStatusCode != tt.status(tt.attempts)) {
				t.Fatalf("log of a failed delivery: %+v", log[0])
			}
			for i, b := range bodies {
				got, err := Verify("whsec_space1", b)
				if err != nil {
					t.Fatalf("attempt %d: %v", i, err)
				}
				if got != (Body{EventName: CallStarted, RoomID: "room1", SpaceID: "space1"}) {
					t.Fatalf("attempt %d body %+v", i, got)
				}
				h := hdrs[i]
				id, _, err := VerifyHeaders("whsec_space1", h, b, time.Now(), time.Minute)
				if err != nil {
					t.Fatalf("attempt %d headers: %v", i, err)
				}
				if id != log[0].Event.ID || h.Get(HeaderDelivery) != log[0].ID || h.Get(HeaderEvent) != "call_started" ||
					h.Get("Content-Type") != "application/json" {
					t.Fatalf("attempt %d headers %v", i, h)
				}
			}
		})
	}
}

// A receiver that cannot be reached is retried and then given up; the
// error kept in the log leaves out the URL's query (a secret there stays
// out of the log and of the delivery log).
func TestDeliveryNetworkError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", "http://"+addr+"/hook?token=s3cret", true)
	d := startDeliverer(t, testConfig(), f.st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	eventually(t, "give up", func() bool { return value(d.m.failed.WithLabelValues("exhausted")) == 1 })
	l := f.deliveries("c1", "space1")
	if l[0].Attempts != 4 || l[0].LastStatusCode != 0 || l[0].LastError == "" || strings.Contains(l[0].LastError, "s3cret") {
		t.Fatalf("log %+v", l[0])
	}
}

// A webhook deleted or deactivated after the event was queued: the
// delivery is given up, not retried; an event with nobody to deliver to is
// not queued at all.
func TestDeliveryWithoutWebhook(t *testing.T) {
	rcv := newReceiver(t, nil)
	f := newFixture(t)
	f.addRoom("c1", "gone", "room1", rcv.URL, true)
	f.addRoom("c1", "off", "room2", rcv.URL, true)
	f.addRoom("c1", "never", "room3", "", true)
	ctx := context.Background()
	d, err := New(testConfig(), Deps{Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"room1", "room2"} {
		if ok, err := d.Enqueue(ctx, Event{Name: CallStarted, RoomID: store.RoomID(r)}); !ok || err != nil {
			t.Fatalf("enqueue %s: %v %v", r, ok, err)
		}
	}
	for _, r := range []string{"room3", "no-such-room"} {
		if ok, err := d.Enqueue(ctx, Event{Name: CallStarted, RoomID: store.RoomID(r)}); ok || err != nil {
			t.Fatalf("enqueue %s: %v %v, want nothing queued", r, ok, err)
		}
	}
	f.must(f.st.DeleteWebhook(ctx, "c1", "gone"))
	w, err := f.st.GetWebhook(ctx, "c1", "off")
	f.must(err)
	w.IsActive = false
	f.must(f.st.PutWebhook(ctx, w))
	d = startDeliverer(t, testConfig(), f.st)
	eventually(t, "both given up", func() bool { return d.stats() == "delivered=0 retried=0 failed:no_webhook=1 failed:inactive=1" })
	if b, _ := rcv.got(); len(b) != 0 {
		t.Fatalf("the receiver got %d requests", len(b))
	}
}

// One room's events are delivered in order, even when the first needs
// retries; other rooms do not wait for it.
func TestDeliveryOrderPerRoom(t *testing.T) {
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return 500
		}
		return 200
	})
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", rcv.URL, true)
	d := startDeliverer(t, testConfig(), f.st)
	names := []EventName{CallStarted, CallFinished, CallStarted, CallFinished}
	for _, n := range names {
		d.Deliver(Event{Name: n, RoomID: "room1"})
	}
	eventually(t, "all delivered", func() bool { return value(d.m.delivered) == 4 })
	bodies, _ := rcv.got()
	var got []EventName
	for i, b := range bodies {
		if i < 2 {
			continue // the failed attempts of the first event
		}
		body, err := Verify("whsec_space1", b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, body.EventName)
	}
	if len(got) != 4 || got[0] != names[0] || got[1] != names[1] || got[2] != names[2] || got[3] != names[3] {
		t.Fatalf("order %v, want %v", got, names)
	}
}

// SSRF: without allowPrivate or an allow entry, loopback is refused at
// connect time, whether named by address or by a host name that resolves
// to it, and the refusal is final (no retries).
func TestDeliverySSRFRefused(t *testing.T) {
	rcv := newReceiver(t, nil)
	_, port, _ := net.SplitHostPort(rcv.Listener.Addr().String())
	tests := []struct {
		name string
		url  string
	}{
		{"loopback address", rcv.URL},
		{"name resolving to loopback", "http://localhost:" + port + "/hook"},
		{"IPv4-mapped IPv6 loopback", "http://[::ffff:127.0.0.1]:" + port + "/hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.addRoom("c1", "space1", "room1", tt.url, true)
			cfg := testConfig()
			cfg.Allow = nil
			d := startDeliverer(t, cfg, f.st)
			d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
			eventually(t, "refusal", func() bool { return value(d.m.failed.WithLabelValues("forbidden_address")) == 1 })
			if s := d.stats(); s != "delivered=0 retried=0 failed:forbidden_address=1" {
				t.Fatalf("counters %q", s)
			}
		})
	}
	if b, _ := rcv.got(); len(b) != 0 {
		t.Fatalf("the receiver got %d requests", len(b))
	}
	// The same receiver with allowPrivate is reached.
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", rcv.URL, true)
	cfg := testConfig()
	cfg.Allow, cfg.AllowPrivate = nil, true
	d := startDeliverer(t, cfg, f.st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	eventually(t, "delivery with allowPrivate", func() bool { return value(d.m.delivered) == 1 })
}

// TestRunTwiceAndClose: Run refuses a second call; Close stops it; both are
// safe twice.
func TestRunTwiceAndClose(t *testing.T) {
	f := newFixture(t)
	d, err := New(testConfig(), Deps{Store: f.st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	eventually(t, "Run to start", func() bool { d.mu.Lock(); defer d.mu.Unlock(); return d.running })
	if err := d.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run() = %v, want ErrRunning", err)
	}
	d.Close()
	d.Close()
	if err := <-errc; err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

// TestBackoff: the wait grows, is jittered, and a Retry-After replaces it
// up to MaxBackoff.
func TestBackoff(t *testing.T) {
	d, err := New(DefaultConfig(), Deps{Store: newFixture(t).st})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 12; n++ {
		w := d.backoff(n, 0)
		full := min(time.Second<<(n-1), 5*time.Minute)
		if w < full/2 || w > full {
			t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, w, full/2, full)
		}
	}
	if w := d.backoff(1, 7*time.Second); w != 7*time.Second {
		t.Fatalf("Retry-After 7s: %s", w)
	}
	if w := d.backoff(1, time.Hour); w != 5*time.Minute {
		t.Fatalf("Retry-After 1h: %s", w)
	}
}

// The outbox's depth, the delivery latency and each attempt's duration
// are measured: events held by a receiver that does not answer yet are
// counted as pending, then none once it answers.
func TestDeliveryMetrics(t *testing.T) {
	release := make(chan struct{})
	rcv := newReceiverFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	t.Cleanup(open) // before the receiver closes, should the test fail
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", rcv.URL, true)
	f.addRoom("c1", "space1", "room2", rcv.URL, true)
	d := startDeliverer(t, testConfig(), f.st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	d.Deliver(Event{Name: CallStarted, RoomID: "room2"})
	gauge := func() float64 {
		var m dto.Metric
		if err := d.m.depth.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetGauge().GetValue()
	}
	eventually(t, "two pending deliveries counted", func() bool { return gauge() == 2 })
	open()
	eventually(t, "both delivered", func() bool { return value(d.m.delivered) == 2 })
	eventually(t, "the outbox counted empty", func() bool { return gauge() == 0 })
	var m dto.Metric
	if err := d.m.latency.Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 2 {
		t.Errorf("delivery latency has %d samples, want 2", n)
	}
	h, err := d.m.attempt.GetMetricWithLabelValues("delivered")
	if err != nil {
		t.Fatal(err)
	}
	m.Reset()
	if err := h.(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetHistogram().GetSampleCount(); n != 2 {
		t.Errorf("delivered attempts timed: %d, want 2", n)
	}
}
