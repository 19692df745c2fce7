package api

import (
	"math"
	"net/http"
	"strconv"

	"github.com/spacecast/spacecast/controlplane/ratelimit"
)

// take takes a token of key's bucket and reports whether it was there.
// The RateLimit-* headers are set either way, Retry-After when refused
// (counted by the limiter's name, as the rateLimit section calls it); the
// caller answers 429 in its own error form.
func (r *request) take(l *ratelimit.Limiter, name, key string) bool {
	if l == nil {
		return true
	}
	d := l.AllowContext(r.context(), key, r.now())
	if d.Limit == 0 {
		return true
	}
	h := &r.c.Response.Header
	h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset.Seconds())))
	if d.Allowed {
		return true
	}
	h.Set("Retry-After", strconv.Itoa(ceilSeconds(d.RetryAfter.Seconds())))
	r.a.o.Metrics.RateLimited(name)
	return false
}

// limit is take for the {code, message} routes: nil, or the 429 to
// answer.
func (r *request) limit(l *ratelimit.Limiter, name, key, what string) error {
	if r.take(l, name, key) {
		return nil
	}
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many " + what + "; retry after the Retry-After delay"}
}

func ceilSeconds(s float64) int {
	return int(math.Max(1, math.Ceil(s)))
}
