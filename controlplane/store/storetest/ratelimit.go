package storetest

import (
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// testRateLimits: a bucket gives exactly burst tokens to any number of
// concurrent takers, then one per interval; a refund gives one back; a
// full bucket is pruned.
func testRateLimits(f *fx) {
	const burst = 5
	iv := 100 * time.Millisecond
	key := newID("rl")
	errs := race(Concurrent, func(int) error {
		ok, _, err := f.s.TakeRateToken(f.ctx, key, iv, burst, f.now)
		if err == nil && !ok {
			return store.ErrUsed // a refusal
		}
		return err
	})
	if wins, _ := f.tally(errs, store.ErrUsed); wins != burst {
		f.t.Fatalf("%d concurrent takers at one instant got %d tokens, want the burst %d", Concurrent, wins, burst)
	}
	ok, tat, err := f.s.TakeRateToken(f.ctx, key, iv, burst, f.now)
	f.must(err, "take from an empty bucket")
	if ok || !tat.Equal(f.now.Add(burst*iv)) {
		f.t.Fatalf("empty bucket: ok %v tat %v, want refused with tat %v", ok, tat, f.now.Add(burst*iv))
	}
	// One interval later exactly one more.
	later := f.now.Add(iv)
	ok, _, err = f.s.TakeRateToken(f.ctx, key, iv, burst, later)
	f.must(err, "take after an interval")
	ok2, _, err := f.s.TakeRateToken(f.ctx, key, iv, burst, later)
	f.must(err, "take again")
	if !ok || ok2 {
		f.t.Fatalf("after one interval: %v then %v, want one token", ok, ok2)
	}
	// A refund gives one back.
	f.must(f.s.RefundRateToken(f.ctx, key, iv, later), "refund")
	ok, _, err = f.s.TakeRateToken(f.ctx, key, iv, burst, later)
	f.must(err, "take the refund")
	if !ok {
		f.t.Fatal("the refunded token was not there")
	}
	// Another key is another bucket.
	ok, tat, err = f.s.TakeRateToken(f.ctx, newID("rl"), iv, burst, f.now)
	f.must(err, "other key")
	if !ok || !tat.Equal(f.now.Add(iv)) {
		f.t.Fatalf("fresh bucket: ok %v tat %v", ok, tat)
	}
	// Pruned once full: the bucket starts full again (it would anyway).
	f.must(f.s.PruneRateTokens(f.ctx, f.now.Add(time.Hour)), "prune")
	for range burst {
		ok, _, err = f.s.TakeRateToken(f.ctx, key, iv, burst, f.now.Add(time.Hour))
		f.must(err, "take after prune")
		if !ok {
			f.t.Fatal("a pruned bucket is not full")
		}
	}
}
