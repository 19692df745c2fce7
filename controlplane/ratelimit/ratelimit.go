package ratelimit

import (
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// AddrKey is the bucket key of a client address: the address itself for
// IPv4, its /64 for IPv6. One IPv6 subscriber (a home, a phone, a cloud
// VM) is routinely handed a whole /64, so keying on the full address would
// give it 2^64 buckets to spread its requests over.
func AddrKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.String()
	}
	return a.String()
}

// Decision is the outcome of one Allow, with what the RateLimit-* headers
// need.
type Decision struct {
	Allowed bool
	// Limit is the bucket size (RateLimit-Limit).
	Limit int
	// Remaining is the number of whole tokens left (RateLimit-Remaining).
	Remaining int
	// Reset is the time until the bucket is full again (RateLimit-Reset).
	Reset time.Duration
	// RetryAfter is the time until one token is available; zero if allowed.
	RetryAfter time.Duration
}

// Limiter is a set of token buckets, safe for concurrent use.
type Limiter struct {
	rate    float64 // tokens per second
	burst   float64
	maxKeys int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time

	// shared holds the buckets every replica uses (NewShared), under name.
	shared    Shared
	name      string
	storeErrs atomic.Uint64
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New makes a limiter that refills rate tokens per second up to burst, and
// keeps at most maxKeys buckets (0 means 100,000). A rate <= 0 disables it:
// Allow always allows.
func New(rate float64, burst, maxKeys int) *Limiter {
	if burst < 1 {
		burst = 1
	}
	if maxKeys <= 0 {
		maxKeys = 100_000
	}
	return &Limiter{rate: rate, burst: float64(burst), maxKeys: maxKeys, buckets: map[string]*bucket{}}
}

// Len reports the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// Allow takes one token from key's bucket at now.
func (l *Limiter) Allow(key string, now time.Time) Decision {
	if l == nil || l.rate <= 0 {
		return Decision{Allowed: true}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		l.makeRoom(now)
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	} else if now.After(b.at) {
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
		b.at = now
	}
	d := Decision{Limit: int(l.burst)}
	if b.tokens >= 1 {
		b.tokens--
		d.Allowed = true
	} else {
		d.RetryAfter = l.seconds(1 - b.tokens)
	}
	d.Remaining = int(b.tokens)
	d.Reset = l.seconds(l.burst - b.tokens)
	return d
}

// Refund gives back the token an Allow took from key's bucket (never
// beyond the burst): for limits that count failures only, taken before the
// attempt (so that concurrent attempts cannot all pass a check made before
// any of them failed) and refunded when it succeeds.
func (l *Limiter) Refund(key string, now time.Time) {
	if l == nil || l.rate <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return
	}
	if now.After(b.at) {
		b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
		b.at = now
	}
	b.tokens = math.Min(l.burst, b.tokens+1)
}

func (l *Limiter) seconds(tokens float64) time.Duration {
	return time.Duration(tokens / l.rate * float64(time.Second))
}

// makeRoom sweeps buckets that have refilled (at most once a second) and,
// at the cap, evicts an arbitrary one.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.buckets) >= l.maxKeys/2 && now.Sub(l.lastSweep) >= time.Second {
		l.lastSweep = now
		full := l.seconds(l.burst)
		for k, b := range l.buckets {
			if now.Sub(b.at) >= full {
				delete(l.buckets, k)
			}
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxKeys {
			break
		}
		delete(l.buckets, k)
	}
}
