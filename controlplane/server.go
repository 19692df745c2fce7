package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/api"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/clientip"
	"github.com/spacecast/spacecast/controlplane/join"
	"github.com/spacecast/spacecast/controlplane/moderation"
	"github.com/spacecast/spacecast/controlplane/openapi"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/ratelimit"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/cluster"
)

// Deps are what the control plane is built on.
type Deps struct {
	Store   store.Store
	Logger  *slog.Logger
	Cluster cluster.Config
	// Placer picks edges; nil means a static placer over Config.DevEdge.
	Placer placement.Placer
	// Locator finds the edges that host a room (moderation calls go to
	// each); nil means moderation.PlacerLocator over Placer.
	Locator moderation.RoomLocator
	// Revocations spreads moderators' removals over the cluster (every
	// replica and every edge); nil keeps them on this replica, which is
	// enough for one replica and one edge (spacecast dev).
	Revocations removal.Revocations
	// Regions lists the regions clients probe (GET /v1/regions); nil
	// answers the static edge's region.
	Regions func() []placement.Region
	// Page serves /room/* and /assets/* (the embeddable room page); nil
	// answers 404 there.
	Page fasthttp.RequestHandler
	// Internal serves /internal/* (cluster-internal endpoints such as the
	// edges' event sink); nil answers 404 there. It is not part of the
	// public API: the OpenAPI document leaves it out, and the handler
	// authenticates its callers itself (the cluster's keys).
	Internal fasthttp.RequestHandler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server is the control plane's HTTP server.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	keys    *auth.Keyring
	deny    *auth.Denylist
	api     *api.API
	spec    []byte
	docs    fasthttp.RequestHandler
	handler fasthttp.RequestHandler
}

// New validates cfg and deps and builds the server; it starts nothing.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, fmt.Errorf("%w: Deps.Store is required", ErrInvalidConfig)
	}
	if err := deps.Cluster.Validate(); err != nil {
		return nil, fmt.Errorf("controlplane: %w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Placer == nil {
		e := cfg.DevEdge
		deps.Placer = placement.Static{Edge: placement.Placement{NodeID: e.NodeID, Region: e.Region, SignalURL: e.URL, TURNURLs: e.TURNURLs}}
	}
	log := deps.Logger.With("component", "controlplane")
	keys := auth.NewKeyring(deps.Store, deps.Now, cfg.KeyRefresh)
	deny := auth.NewDenylist(deps.Store, deps.Now, cfg.RevocationSync)
	proxies, err := clientip.New(cfg.TrustedProxies, cfg.ClientIPHeader)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	a, err := newAPI(cfg, deps, log, keys, deny, proxies)
	if err != nil {
		return nil, err
	}
	spec, err := openapi.Document(api.Operations())
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, deps: deps, log: log, keys: keys, deny: deny, api: a, spec: spec, docs: openapi.UI("/docs")}
	s.handler = s.serve
	if log.Enabled(context.Background(), slog.LevelDebug) {
		s.handler = s.logged
	}
	return s, nil
}

// Routes lists the API's routes as its route table declares them.
func (s *Server) Routes() []openapi.Operation { return api.Operations() }

// newAPI builds the services that hold the rules (access, join, space,
// moderation) and the /v1 API over them.
func newAPI(cfg Config, deps Deps, log *slog.Logger, keys *auth.Keyring, deny *auth.Denylist, proxies *clientip.Resolver) (*api.API, error) {
	tokens := auth.NewTokens(keys, deps.Now)
	removals := deps.Revocations
	if removals == nil {
		ttl := cfg.SessionTTL
		if ttl <= 0 {
			ttl = 4 * time.Hour
		}
		removals = removal.NewSet(ttl, 100_000)
	}
	locator := deps.Locator
	if locator == nil {
		locator = moderation.PlacerLocator{Placer: deps.Placer}
	}
	acc, err := access.New(access.Options{Store: deps.Store, Tokens: tokens, Denylist: deny, Now: deps.Now, ReadCacheTTL: cfg.ReadCacheTTL})
	if err != nil {
		return nil, err
	}
	joins, err := join.New(join.Options{Store: deps.Store, Access: acc, Tokens: tokens, Placer: deps.Placer, Removals: removals,
		Cluster: deps.Cluster, Regions: deps.Regions, Now: deps.Now,
		SessionTTL: cfg.SessionTTL, MediaTTL: cfg.MediaTokenTTL, TURNTTL: cfg.TURNCredentialTTL})
	if err != nil {
		return nil, err
	}
	spaces, err := space.New(space.Options{Store: deps.Store, Tokens: tokens, PublicURL: strings.TrimSuffix(cfg.PublicURL, "/"), Now: deps.Now})
	if err != nil {
		return nil, err
	}
	mod, err := moderation.New(moderation.Options{Locator: locator, Removals: removals, Cluster: deps.Cluster, Logger: log, Now: deps.Now})
	if err != nil {
		return nil, err
	}
	rl := cfg.RateLimit
	limiter := func(b Bucket) *ratelimit.Limiter { return ratelimit.New(b.Rate, b.Burst, rl.MaxKeys) }
	return api.New(api.Options{
		Access: acc, Join: joins, Spaces: spaces, Moderation: mod,
		Store: deps.Store, Tokens: tokens, Denylist: deny, Logger: log, Now: deps.Now,
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL,
		TokenPerAddress:     limiter(rl.TokenPerAddress),
		TokenPerClient:      limiter(rl.TokenPerClient),
		TokenPerUsername:    limiter(rl.TokenPerUsername),
		CreateUserPerClient: limiter(rl.CreateUserPerClient),
		JoinPerAddress:      limiter(rl.JoinPerAddress),
		GuestJoinPerAddress: limiter(rl.GuestJoinPerAddress),
		RequestTimeout:      cfg.RequestTimeout,
		ClientIP:            proxies,
	})
}

// Handler is the control plane's request handler. Serving it on your own
// fasthttp.Server? Call Init first, and start from FastHTTPServer for the
// body limit, the 413 answer and the timeouts, served on a LingerListener.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handler }

// Init loads the REST signing keys, creating the first one in a fresh
// store, and the token revocations. Run calls it; call it yourself only when serving Handler on
// another server.
func (s *Server) Init(ctx context.Context) error {
	if err := s.keys.Init(ctx); err != nil {
		return fmt.Errorf("controlplane: signing keys: %w", err)
	}
	if err := s.deny.Sync(ctx); err != nil {
		return fmt.Errorf("controlplane: %w", err)
	}
	return nil
}

// FastHTTPServer returns a new fasthttp.Server configured as Run serves:
// Handler, the body limit with its 413 {code, message} answer, timeouts.
// Serve it on LingerListener(ln, cfg.MaxBodyBytes), as Run does, or a
// client that sends an oversized body whole may get a connection reset
// instead of the 413.
func (s *Server) FastHTTPServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:            s.handler,
		Name:               "spacecast",
		MaxRequestBodySize: s.cfg.MaxBodyBytes,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        60 * time.Second,
		CloseOnShutdown:    true,
		ErrorHandler: func(c *fasthttp.RequestCtx, err error) {
			// The request was not read to its end: drain the rest after
			// the answer, so that the client reads the answer.
			lingerOnClose(c.Conn())
			if errors.Is(err, fasthttp.ErrBodyTooLarge) {
				api.TooLarge(c)
				return
			}
			api.WriteError(c, http.StatusBadRequest, "bad_request", "the HTTP request could not be read")
		},
		Logger: fasthttpLogger{s.log},
	}
}

// Keyring is the REST token signing keyring (for rotation).
func (s *Server) Keyring() *auth.Keyring { return s.keys }

func (s *Server) serve(c *fasthttp.RequestCtx) {
	path := c.Path()
	switch {
	case hasPrefix(path, "/v1/openapi.json"):
		c.SetContentType("application/json")
		c.SetBody(s.spec)
	case hasPrefix(path, "/v1/"):
		s.api.Handle(c)
	case string(path) == "/healthz":
		c.SetContentType("application/json")
		c.SetBodyString(`{"status":"ok"}`)
	case string(path) == "/readyz":
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := s.deps.Store.Ping(ctx)
		cancel()
		if err != nil {
			api.WriteError(c, http.StatusServiceUnavailable, "not_ready", "the store is unavailable")
			return
		}
		c.SetContentType("application/json")
		c.SetBodyString(`{"status":"ready"}`)
	case string(path) == "/docs" || hasPrefix(path, "/docs/"):
		s.docs(c)
	case hasPrefix(path, "/room/") || hasPrefix(path, "/assets/"):
		if s.deps.Page == nil {
			api.WriteError(c, http.StatusNotFound, "not_found", "the room page is not served here")
			return
		}
		s.deps.Page(c)
	case hasPrefix(path, "/internal/"):
		if s.deps.Internal == nil {
			api.WriteError(c, http.StatusNotFound, "not_found", "no such path")
			return
		}
		s.deps.Internal(c)
	case string(path) == "/":
		c.Redirect("/docs", http.StatusFound)
	default:
		api.WriteError(c, http.StatusNotFound, "not_found", "no such path")
	}
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// logged serves and writes a debug access log line. The query string is
// left out: it can carry access tokens.
func (s *Server) logged(c *fasthttp.RequestCtx) {
	start := time.Now()
	s.serve(c)
	s.log.Debug("http", "method", string(c.Method()), "path", string(c.Path()), "status", c.Response.StatusCode(),
		"bytes", len(c.Response.Body()), "dur", time.Since(start))
}

// Run initialises the signing keys and serves on ln until ctx is
// cancelled, then stops accepting and waits (up to ShutdownTimeout) for
// in-flight requests to finish. ln is closed on return.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	defer ln.Close()
	if err := s.Init(ctx); err != nil {
		return err
	}
	srv := s.FastHTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(LingerListener(ln, s.cfg.MaxBodyBytes)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("controlplane: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.ShutdownWithContext(sctx)
	if serr := <-errc; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("controlplane: shutdown: %w", err)
	}
	return nil
}

// fasthttpLogger logs fasthttp's own messages without their arguments:
// those can quote raw request bytes (a query string with an access token).
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, _ ...any) {
	l.log.Warn("http server", "event", format)
}
