package ratelimit

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	l := New(2, 3, 0) // 2 tokens/s, burst 3
	type step struct {
		at        time.Duration
		allowed   bool
		remaining int
		retry     time.Duration
	}
	steps := []step{
		{0, true, 2, 0},
		{0, true, 1, 0},
		{0, true, 0, 0},
		{0, false, 0, 500 * time.Millisecond},
		{250 * time.Millisecond, false, 0, 250 * time.Millisecond},
		{500 * time.Millisecond, true, 0, 0},
		{5 * time.Second, true, 2, 0},
	}
	for i, s := range steps {
		d := l.Allow("k", start.Add(s.at))
		if d.Allowed != s.allowed || d.Remaining != s.remaining || d.RetryAfter != s.retry || d.Limit != 3 {
			t.Fatalf("step %d: %+v, want %+v", i, d, s)
		}
	}
	if d := l.Allow("other", start); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("independent key: %+v", d)
	}
	if d := l.Allow("k", start.Add(5*time.Second)); d.Reset != time.Second {
		t.Fatalf("Reset = %v, want 1s", d.Reset)
	}
}

func TestDisabled(t *testing.T) {
	l := New(0, 1, 0)
	for range 10 {
		if !l.Allow("k", time.Now()).Allowed {
			t.Fatal("disabled limiter refused")
		}
	}
}

func TestBoundedMemory(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	l := New(10, 10, 1000)
	for i := range 10_000 {
		l.Allow(strconv.Itoa(i), start)
	}
	if n := l.Len(); n > 1000 {
		t.Fatalf("%d buckets, cap 1000", n)
	}
	// After they refill, idle buckets are swept on the next new key.
	for i := range 600 {
		l.Allow("late"+strconv.Itoa(i), start.Add(10*time.Second))
	}
	if n := l.Len(); n > 700 {
		t.Fatalf("%d buckets after the idle sweep", n)
	}
}

func TestAddrKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"198.51.100.7", "198.51.100.7"},
		{"::ffff:198.51.100.7", "198.51.100.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	} {
		if got := AddrKey(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("AddrKey(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRefund(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := New(0.001, 2, 0)
	l.Allow("k", now)
	l.Allow("k", now)
	if l.Allow("k", now).Allowed {
		t.Fatal("bucket not empty")
	}
	l.Refund("k", now)
	if !l.Allow("k", now).Allowed {
		t.Fatal("refunded token not there")
	}
	for range 5 {
		l.Refund("k", now)
	}
	if d := l.Allow("k", now); d.Remaining != 1 {
		t.Fatalf("refunds went beyond the burst: %+v", d)
	}
	l.Refund("unknown", now) // no bucket: nothing to give back
	if l.Len() != 1 {
		t.Fatalf("Refund made a bucket: %d", l.Len())
	}
}
