package ratelimit

import (
	"context"
	"math"
	"time"
)

// Shared is where the buckets of every replica live: store.RateLimits.
type Shared interface {
	TakeRateToken(ctx context.Context, key string, interval time.Duration, burst int, now time.Time) (bool, time.Time, error)
	RefundRateToken(ctx context.Context, key string, interval time.Duration, now time.Time) error
}

// NewShared is New with the buckets in sh, under name (which tells this
// limit's buckets from the other limits' in the store): every replica that
// makes a limiter of the same name on the same store shares its buckets.
func NewShared(name string, rate float64, burst, maxKeys int, sh Shared) *Limiter {
	l := New(rate, burst, maxKeys)
	if sh != nil && rate > 0 {
		l.shared, l.name = sh, name
	}
	return l
}

// StoreErrors counts the shared decisions the store could not make (the
// local bucket decided them).
func (l *Limiter) StoreErrors() uint64 {
	if l == nil {
		return 0
	}
	return l.storeErrs.Load()
}

// interval is the time one token takes to come back.
func (l *Limiter) interval() time.Duration {
	return time.Duration(float64(time.Second) / l.rate)
}

// AllowContext takes one token from key's bucket at now: the shared bucket
// when the limiter has one (NewShared), else the local one (Allow). The
// local bucket answers first either way; ctx bounds the store call.
func (l *Limiter) AllowContext(ctx context.Context, key string, now time.Time) Decision {
	d := l.Allow(key, now)
	if !d.Allowed || l.shared == nil {
		return d
	}
	iv := l.interval()
	burst := int(l.burst)
	ok, tat, err := l.shared.TakeRateToken(ctx, l.name+":"+key, iv, burst, now)
	if err != nil {
		l.storeErrs.Add(1)
		return d // the store cannot tell: the local bucket decides
	}
	out := Decision{Allowed: ok, Limit: burst, Reset: max(0, tat.Sub(now))}
	window := time.Duration(burst) * iv
	if ok {
		out.Remaining = int(math.Floor(float64(now.Add(window).Sub(tat)) / float64(iv)))
		out.Remaining = max(0, min(out.Remaining, burst))
		return out
	}
	// Refused: the local token goes back (only admitted requests count
	// there, so that the local bucket never refuses what the shared one
	// would admit).
	l.Refund(key, now)
	out.RetryAfter = max(time.Millisecond, tat.Add(-window+iv).Sub(now))
	return out
}

// RefundContext gives back the token an AllowContext took from key's
// bucket, in the shared bucket too.
func (l *Limiter) RefundContext(ctx context.Context, key string, now time.Time) {
	if l == nil || l.rate <= 0 {
		return
	}
	l.Refund(key, now)
	if l.shared != nil {
		if err := l.shared.RefundRateToken(ctx, l.name+":"+key, l.interval(), now); err != nil {
			l.storeErrs.Add(1)
		}
	}
}
