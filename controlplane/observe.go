package controlplane

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/internal/requestid"
)

// observed serves one request: it gives the request its id (the client's
// X-Request-Id when it is safe to log, else a fresh one; the API and the
// join's media token read it from the request, the client from the
// answer), serves it, counts it by route pattern, method, status and
// latency, and writes its access-log line. While draining, every answer
// closes its connection.
func (s *Server) observed(c *fasthttp.RequestCtx) {
	start := time.Now()
	h := &c.Request.Header
	id := string(h.Peek(requestid.Header))
	if !requestid.Valid(id) {
		id = requestid.New()
		h.Set(requestid.Header, id)
	}
	route := s.serve(c)
	c.Response.Header.Set(requestid.Header, id)
	if s.draining.Load() {
		c.SetConnectionClose()
	}
	took := time.Since(start)
	status := c.Response.StatusCode()
	s.deps.Metrics.Request(route, string(c.Method()), status, took)
	// Probes come every few seconds from every load balancer: they are
	// logged at debug, every other request at info.
	level := slog.LevelInfo
	if route == "/healthz" || route == "/readyz" {
		level = slog.LevelDebug
	}
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	// The route pattern, never the path or the query string: those can
	// carry ids and access tokens.
	s.log.LogAttrs(context.Background(), level, "http request",
		slog.String("method", string(c.Method())), slog.String("route", route), slog.Int("status", status),
		slog.Duration("latency", took), slog.String("client", s.clientAddr(c).String()),
		slog.String("request_id", id), slog.Int("bytes", len(c.Response.Body())))
}

// clientAddr is the request's client address: the peer's, or the one a
// trusted proxy names.
func (s *Server) clientAddr(c *fasthttp.RequestCtx) netip.Addr {
	peer, _ := netip.AddrFromSlice(c.RemoteIP())
	return s.proxies.Addr(peer.Unmap(), c.Request.Header.PeekAll(s.proxies.Header()))
}
