package ratelimit

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store/sqlite"
)

// TestSharedAcrossReplicas: two replicas' limiters of one name on one
// store admit, together, exactly what one limit allows: the burst at one
// instant, then the rate; the local buckets alone would admit twice that.
func TestSharedAcrossReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const rate, burst = 10, 20
	replicas := []*Limiter{NewShared("join", rate, burst, 0, st), NewShared("join", rate, burst, 0, st)}
	other := NewShared("token", rate, burst, 0, st) // another limit: other buckets
	start := time.Unix(1_800_000_000, 0)
	admit := func(at time.Time, perReplica int) int {
		var n atomic.Int64
		var wg sync.WaitGroup
		for _, l := range replicas {
			for range perReplica {
				wg.Go(func() {
					if l.AllowContext(ctx, "1.2.3.4", at).Allowed {
						n.Add(1)
					}
				})
			}
		}
		wg.Wait()
		return int(n.Load())
	}
	if got := admit(start, 30); got != burst {
		t.Fatalf("60 requests over two replicas at one instant: %d admitted, want the burst %d", got, burst)
	}
	// Each second brings rate tokens for the service, not per replica.
	for s := 1; s <= 3; s++ {
		if got := admit(start.Add(time.Duration(s)*time.Second), 15); got != rate {
			t.Fatalf("second %d: %d admitted over two replicas, want %d", s, got, rate)
		}
	}
	if !other.AllowContext(ctx, "1.2.3.4", start).Allowed {
		t.Fatal("another limit shares the bucket")
	}
	d := replicas[0].AllowContext(ctx, "1.2.3.4", start.Add(3*time.Second))
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Second/rate || d.Limit != burst {
		t.Fatalf("refusal: %+v", d)
	}
	// A refund on one replica is a token for the other.
	at := start.Add(3 * time.Second)
	replicas[0].RefundContext(ctx, "1.2.3.4", at)
	if !replicas[1].AllowContext(ctx, "1.2.3.4", at).Allowed {
		t.Fatal("a token refunded on one replica is not there for the other")
	}
	// Remaining counts down from the shared bucket.
	fresh := replicas[1].AllowContext(ctx, "5.6.7.8", start)
	if !fresh.Allowed || fresh.Remaining != burst-1 {
		t.Fatalf("first request of a key: %+v", fresh)
	}
}

type failing struct{}

func (failing) TakeRateToken(context.Context, string, time.Duration, int, time.Time) (bool, time.Time, error) {
	return false, time.Time{}, errors.New("store down")
}
func (failing) RefundRateToken(context.Context, string, time.Duration, time.Time) error {
	return errors.New("store down")
}

// TestSharedStoreDown: without the store the local bucket decides, and
// the failures are counted.
func TestSharedStoreDown(t *testing.T) {
	l := NewShared("x", 1, 2, 0, failing{})
	now := time.Unix(1_800_000_000, 0)
	var ok int
	for range 5 {
		if l.AllowContext(t.Context(), "k", now).Allowed {
			ok++
		}
	}
	if ok != 2 || l.StoreErrors() != 2 {
		t.Fatalf("admitted %d (want the local burst 2), store errors %d", ok, l.StoreErrors())
	}
}

// TestSharedClockSkew: the stated error of the shared limit. A replica
// whose clock runs δ ahead of the other's admits rate·δ tokens more than
// the limit, and no more; the other then admits nothing until its clock
// catches up.
func TestSharedClockSkew(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const rate, burst = 10, 5
	const skew = 500 * time.Millisecond
	a, b := NewShared("join", rate, burst, 0, st), NewShared("join", rate, burst, 0, st)
	t0 := time.Unix(1_800_000_000, 0)
	admit := func(l *Limiter, at time.Time, n int) int {
		ok := 0
		for range n {
			if l.AllowContext(ctx, "k", at).Allowed {
				ok++
			}
		}
		return ok
	}
	if got := admit(a, t0, 20); got != burst {
		t.Fatalf("A at t0: %d admitted, want the burst %d", got, burst)
	}
	extra := int(rate * skew.Seconds())
	if got := admit(b, t0.Add(skew), 20); got != extra {
		t.Fatalf("B, %s ahead: %d admitted, want rate·δ = %d", skew, got, extra)
	}
	if got := admit(a, t0, 20); got != 0 {
		t.Fatalf("A at t0 again: %d admitted, want none", got)
	}
	if got := admit(a, t0.Add(skew+time.Second/rate), 20); got != 1 {
		t.Fatalf("A once its clock is past B's: %d admitted, want 1", got)
	}
}
