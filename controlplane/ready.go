package controlplane

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/controlplane/api"
)

// The store check behind /readyz: a ping bounded by readyPingTimeout, its
// answer kept for readyCacheTTL so that the probes of several load
// balancers make one ping a second, not one each.
const (
	readyPingTimeout = time.Second
	readyCacheTTL    = time.Second
)

// readiness is the last store check.
type readiness struct {
	mu  sync.Mutex // held during a ping: probes meanwhile wait for its answer
	at  time.Time  // when the last ping ended (zero: never)
	err error      // its error
}

// ready answers /readyz: 503 from the start of a drain, or while the store
// does not answer a ping in time; 200 again once it does.
func (s *Server) ready(c *fasthttp.RequestCtx) {
	if s.draining.Load() {
		api.WriteError(c, http.StatusServiceUnavailable, "draining", "this replica is shutting down")
		return
	}
	if err := s.storeReady(); err != nil {
		api.WriteError(c, http.StatusServiceUnavailable, "not_ready", "the store is unavailable")
		return
	}
	c.SetContentType("application/json")
	c.SetBodyString(`{"status":"ready"}`)
}

// storeReady pings the store unless the last ping is fresh, and logs when
// the store becomes unreachable or reachable again.
func (s *Server) storeReady() error {
	r := &s.storeCheck
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && time.Since(r.at) < readyCacheTTL {
		return r.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyPingTimeout)
	err := s.deps.Store.Ping(ctx)
	cancel()
	s.deps.Metrics.StorePing(err)
	switch {
	case err != nil && (r.err == nil || r.at.IsZero()):
		s.log.Warn("the store does not answer: not ready", "err", err)
	case err == nil && r.err != nil:
		s.log.Info("the store answers again: ready")
	}
	r.at, r.err = time.Now(), err
	return err
}
