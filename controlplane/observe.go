package controlplane

import (
	"context"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"
)

// observed serves a request and counts it by route pattern, method,
// status and latency; while draining, every answer closes its connection.
func (s *Server) observed(c *fasthttp.RequestCtx) {
	start := time.Now()
	route := s.serve(c)
	if s.draining.Load() {
		c.SetConnectionClose()
	}
	took := time.Since(start)
	s.deps.Metrics.Request(route, string(c.Method()), c.Response.StatusCode(), took)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		// The query string is left out: it can carry access tokens.
		s.log.Debug("http", "method", string(c.Method()), "path", string(c.Path()), "status", c.Response.StatusCode(),
			"bytes", len(c.Response.Body()), "dur", took)
	}
}
