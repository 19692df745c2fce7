package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/config"
)

func TestDeliveryAttempts(t *testing.T) {
	tests := []struct {
		name     string
		status   func(n int) int
		attempts int
		stats    string
	}{
		{"first try", func(int) int { return 200 }, 1, "delivered=1 retried=0"},
		{"fails twice then succeeds", func(n int) int {
			if n <= 2 {
				return 500
			}
			return 204
		}, 3, "delivered=1 retried=2"},
		{"always 503: 1+3 attempts then dropped", func(int) int { return 503 }, 4, "delivered=0 retried=3 failed:exhausted=1"},
		{"429 is retried", func(n int) int {
			if n == 1 {
				return 429
			}
			return 200
		}, 2, "delivered=1 retried=1"},
		{"400 is final", func(int) int { return 400 }, 1, "delivered=0 retried=0 failed:rejected=1"},
		{"410 is final", func(int) int { return 410 }, 1, "delivered=0 retried=0 failed:rejected=1"},
		{"a redirect is not followed", func(int) int { return 307 }, 1, "delivered=0 retried=0 failed:rejected=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, tt.status)
			st := newMemStore()
			st.addRoom("room1", "space1", rcv.URL+"/hook", true)
			d := startDeliverer(t, testConfig(), st)
			if !d.Deliver(Event{Name: CallStarted, RoomID: "room1"}) {
				t.Fatal("Deliver() = false")
			}
			eventually(t, "the delivery to settle", func() bool {
				return value(d.m.delivered)+value(d.m.failed.WithLabelValues("exhausted"))+value(d.m.failed.WithLabelValues("rejected")) == 1
			})
			bodies, hdrs := rcv.got()
			if len(bodies) != tt.attempts {
				t.Fatalf("%d attempts, want %d", len(bodies), tt.attempts)
			}
			if s := d.stats(); s != tt.stats {
				t.Fatalf("counters %q, want %q", s, tt.stats)
			}
			for i, b := range bodies {
				got, err := Verify("whsec_space1", b)
				if err != nil {
					t.Fatalf("attempt %d: %v (%s)", i+1, err, b)
				}
				if got != (Body{EventName: CallStarted, RoomID: "room1", SpaceID: "space1"}) {
					t.Fatalf("attempt %d: body %+v", i+1, got)
				}
				if hdrs[i].Get("X-Spacecast-Delivery") != hdrs[0].Get("X-Spacecast-Delivery") || hdrs[i].Get("Content-Type") != "application/json" {
					t.Fatalf("attempt %d: headers %v", i+1, hdrs[i])
				}
			}
		})
	}
}

// A network error (nobody listening) is retried, then the event is dropped.
func TestDeliveryNetworkError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	st := newMemStore()
	st.addRoom("room1", "space1", "http://"+addr+"/hook", true)
	d := startDeliverer(t, testConfig(), st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	eventually(t, "the event to be dropped", func() bool { return value(d.m.failed.WithLabelValues("exhausted")) == 1 })
	if s := d.stats(); s != "delivered=0 retried=3 failed:exhausted=1" {
		t.Fatalf("counters %q", s)
	}
}

func TestDeliverySkips(t *testing.T) {
	rcv := newReceiver(t, nil)
	st := newMemStore()
	st.addRoom("inactive", "s-inactive", rcv.URL, false)
	st.addRoom("nohook", "s-nohook", "", false)
	d := startDeliverer(t, testConfig(), st)
	d.Deliver(Event{Name: CallStarted, RoomID: "inactive"})
	d.Deliver(Event{Name: CallStarted, RoomID: "nohook"})
	d.Deliver(Event{Name: CallStarted, RoomID: "unknown"})
	want := "delivered=0 retried=0 skipped:no_room=1 skipped:no_webhook=1 skipped:inactive=1"
	eventually(t, want, func() bool { return d.stats() == want })
	if b, _ := rcv.got(); len(b) != 0 {
		t.Fatalf("the receiver got %d requests", len(b))
	}
}

// Events that carry their space and client are not looked up.
func TestDeliveryKnownSpace(t *testing.T) {
	rcv := newReceiver(t, nil)
	st := newMemStore()
	st.addRoom("other", "space1", rcv.URL, true)
	d := startDeliverer(t, testConfig(), st)
	d.Deliver(Event{Name: RecordStarted, RoomID: "deleted-room", SpaceID: "space1", ClientID: "c1", RecordID: "rec1"})
	eventually(t, "delivery", func() bool { return value(d.m.delivered) == 1 })
	b, _ := rcv.got()
	got, err := Verify("whsec_space1", b[0])
	if err != nil || got != (Body{EventName: RecordStarted, RoomID: "deleted-room", SpaceID: "space1", RecordID: "rec1"}) {
		t.Fatalf("Verify() = %+v, %v", got, err)
	}
}

// One room's events arrive in the order they were given.
func TestDeliveryOrderPerRoom(t *testing.T) {
	rcv := newReceiver(t, nil)
	st := newMemStore()
	st.addRoom("room1", "space1", rcv.URL, true)
	d := startDeliverer(t, testConfig(), st)
	names := []EventName{CallStarted, RecordStarted, RecordFinished, CallFinished, CallStarted, CallFinished}
	for _, n := range names {
		d.Deliver(Event{Name: n, RoomID: "room1"})
	}
	eventually(t, "deliveries", func() bool { return value(d.m.delivered) == float64(len(names)) })
	b, _ := rcv.got()
	for i, raw := range b {
		got, err := Verify("whsec_space1", raw)
		if err != nil || got.EventName != names[i] {
			t.Fatalf("delivery %d: %+v, %v; want %s", i, got, err, names[i])
		}
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
			st := newMemStore()
			st.addRoom("room1", "space1", tt.url, true)
			cfg := testConfig()
			cfg.Allow = nil
			d := startDeliverer(t, cfg, st)
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
	st := newMemStore()
	st.addRoom("room1", "space1", rcv.URL, true)
	cfg := testConfig()
	cfg.Allow, cfg.AllowPrivate = nil, true
	d := startDeliverer(t, cfg, st)
	d.Deliver(Event{Name: CallStarted, RoomID: "room1"})
	eventually(t, "delivery with allowPrivate", func() bool { return value(d.m.delivered) == 1 })
}

func TestGuard(t *testing.T) {
	g, err := newGuard(false, []string{"10.1.0.0/16", "fd12::7"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		ok   bool
	}{
		{"93.184.215.14", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.0.0.1", false},
		{"10.1.2.3", true}, // allowed prefix
		{"172.16.5.4", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // AWS/GCP/Azure metadata
		{"fd00:ec2::254", false},   // AWS metadata over IPv6
		{"fd12::7", true},          // allowed address
		{"fd12::8", false},
		{"100.100.100.200", false}, // Alibaba metadata (CGNAT range)
		{"fe80::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},       // NAT64 of 10.0.0.1
		{"64:ff9b::5db8:d70e", true},    // NAT64 of a public address
		{"64:ff9b:1::5db8:d70e", false}, // local-use NAT64: refused whatever it embeds
		{"2002:a00:1::1", false},        // 6to4 of 10.0.0.1
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"198.18.0.1", false},
		{"192.0.2.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := g.check(netip.MustParseAddr(tt.addr))
			if tt.ok != (err == nil) {
				t.Fatalf("check(%s) = %v, want ok=%v", tt.addr, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("check(%s) = %v, want ErrForbiddenAddress", tt.addr, err)
			}
			if err := g.control("tcp", netip.AddrPortFrom(netip.MustParseAddr(tt.addr), 443).String(), nil); tt.ok != (err == nil) {
				t.Fatalf("control(%s) = %v", tt.addr, err)
			}
		})
	}
	if _, err := newGuard(false, []string{"not-a-cidr"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("newGuard(bad) = %v", err)
	}
}

// Deliver never blocks: with no worker running, the queue fills and the
// rest is dropped and counted; after Close everything is dropped.
func TestDeliverQueueOverflow(t *testing.T) {
	cfg := testConfig()
	cfg.Workers, cfg.QueueSize = 1, 4
	d, err := New(cfg, Deps{Store: newMemStore()})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			d.Deliver(Event{Name: CallStarted, RoomID: "r"})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Deliver blocked")
	}
	if s := d.stats(); s != "delivered=0 retried=0 dropped:queue_full=6" {
		t.Fatalf("counters %q", s)
	}
	// Run then Close: the 4 queued events are delivered (the room is
	// unknown: skipped) or counted as dropped at shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	eventually(t, "the queue to drain", func() bool { return value(d.m.skipped.WithLabelValues("no_room")) == 4 })
	if err := d.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run() = %v, want ErrRunning", err)
	}
	d.Close()
	d.Close()
	if err := <-errc; err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if d.Deliver(Event{Name: CallStarted, RoomID: "r"}) {
		t.Fatal("Deliver after Close = true")
	}
	if v := value(d.m.dropped.WithLabelValues("closed")); v != 1 {
		t.Fatalf("dropped:closed = %v", v)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"no workers", func(c *Config) { c.Workers = 0 }, false},
		{"queue smaller than workers", func(c *Config) { c.QueueSize = 2 }, false},
		{"perTenant above workers", func(c *Config) { c.PerTenant = c.Workers + 1 }, false},
		{"perTenant set", func(c *Config) { c.PerTenant = 2 }, true},
		{"tenantQueue above queueSize", func(c *Config) { c.TenantQueue = c.QueueSize + 1 }, false},
		{"delivery timeout below the attempt timeout", func(c *Config) { c.DeliveryTimeout = time.Second }, false},
		{"no timeout", func(c *Config) { c.Timeout = 0 }, false},
		{"negative retries", func(c *Config) { c.Retries = -1 }, false},
		{"zero retries", func(c *Config) { c.Retries = 0 }, true},
		{"max backoff below first", func(c *Config) { c.MaxBackoff = time.Millisecond }, false},
		{"bad allow", func(c *Config) { c.Allow = []string{"10.0.0.0/33"} }, false},
		{"allow address", func(c *Config) { c.Allow = []string{"10.0.0.7", "fd00::/8"} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
	if _, err := New(DefaultConfig(), Deps{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New without a store: %v", err)
	}
}

func TestConfigYAML(t *testing.T) {
	c := DefaultConfig()
	in := "workers: 8\nqueueSize: 4096\nallowPrivate: false\nallow: [10.20.0.0/16]\ncalls:\n  finishGrace: 10s\n"
	if err := config.Decode([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.Workers != 8 || c.Calls.FinishGrace != 10*time.Second || c.Calls.EdgeTTL != DefaultCallsConfig().EdgeTTL || c.Retries != 3 {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := config.Decode([]byte("allowPrivat: true\n"), &c); err == nil {
		t.Fatal("an unknown key decodes")
	}
}

func BenchmarkEnvelope(b *testing.B) {
	body := Body{EventName: CallStarted, RoomID: "6745f0c2a1b2c3d4e5f60718", SpaceID: "6745f0c2a1b2c3d4e5f60719"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Envelope("whsec_0123456789abcdef0123456789abcdef", body); err != nil {
			b.Fatal(err)
		}
	}
}
