package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the delay before retry attempt (1 for the first retry):
// base·2^(attempt−1), capped at limit when limit > 0, jittered to between half
// and all of it so that many clients retrying together spread out.
func Backoff(base, limit time.Duration, attempt int) time.Duration {
	d := base << min(max(attempt-1, 0), 20)
	if limit > 0 {
		d = min(d, limit)
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d or until ctx ends; it reports whether the whole d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
