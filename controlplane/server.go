package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/analytics"
	"github.com/spacecast/spacecast/controlplane/api"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/clientip"
	"github.com/spacecast/spacecast/controlplane/join"
	"github.com/spacecast/spacecast/controlplane/metrics"
	"github.com/spacecast/spacecast/controlplane/moderation"
	"github.com/spacecast/spacecast/controlplane/openapi"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/ratelimit"
	"github.com/spacecast/spacecast/controlplane/recording"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// Deps are what the control plane is built on.
type Deps struct {
	Store   store.Store
	Logger  *slog.Logger
	Cluster clusterkey.Config
	// Placer picks edges; nil means a static placer over Config.DevEdge.
	Placer placement.Placer
	// Locator finds the edges that host a room (moderation calls go to
	// each); nil means moderation.PlacerLocator over Placer.
	Locator moderation.RoomLocator
	// Revocations spreads moderators' removals over the cluster (every
	// replica and every edge); nil records them in the store, which every
	// replica reads (removal.Stored). When it is also a
	// removal.UserRevoker, a deleted user's participants are disconnected
	// from every edge.
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
	// Recordings keeps the recordings' files (the `storage:` section):
	// their download links are signed with it; nil answers 503 no_storage.
	Recordings blob.Store
	// Files serves /files/<key> (the local storage's signed download
	// links: blob.Local.Handler, given the path after /files); nil answers
	// 404 there.
	Files http.Handler
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics counts requests, joins, placements, tokens and rate-limit
	// refusals (nil: nothing is counted). The store's operations are
	// counted when Store is wrapped by Metrics.Store.
	Metrics *metrics.Metrics
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
	access  *access.Service
	waiting *waiting.Service
	docs    fasthttp.RequestHandler
	files   fasthttp.RequestHandler // Deps.Files
	handler fasthttp.RequestHandler
	proxies *clientip.Resolver
	// draining is set when Run's context ends: /readyz answers 503 and
	// every answer closes its connection.
	draining   atomic.Bool
	storeCheck readiness
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
	wait, err := waiting.New(waiting.Options{Store: deps.Store, Now: deps.Now})
	if err != nil {
		return nil, err
	}
	a, acc, err := newAPI(cfg, deps, log, keys, deny, proxies, wait)
	if err != nil {
		return nil, err
	}
	spec, err := openapi.Document(api.Operations())
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, deps: deps, log: log, keys: keys, deny: deny, api: a, access: acc, waiting: wait, spec: spec, docs: openapi.UI("/docs"),
		proxies: proxies}
	s.handler = s.observed
	if deps.Files != nil {
		s.files = fasthttpadaptor.NewFastHTTPHandler(http.StripPrefix("/files", deps.Files))
	}
	return s, nil
}

// Routes lists the API's routes as its route table declares them.
func (s *Server) Routes() []openapi.Operation { return api.Operations() }

// newAPI builds the services that hold the rules (access, join, space,
// moderation, analytics) and the /v1 API over them and wait (the waiting
// rooms).
func newAPI(cfg Config, deps Deps, log *slog.Logger, keys *auth.Keyring, deny *auth.Denylist, proxies *clientip.Resolver, wait *waiting.Service) (*api.API, *access.Service, error) {
	tokens := auth.NewTokens(keys, deps.Now)
	removals := deps.Revocations
	if removals == nil {
		// No fleet to gossip removals: the store carries them to the
		// other replicas.
		ttl := cfg.SessionTTL
		if ttl <= 0 {
			ttl = 4 * time.Hour
		}
		removals = removal.NewStored(deps.Store, deny, ttl)
	}
	locator := deps.Locator
	if locator == nil {
		locator = moderation.PlacerLocator{Placer: deps.Placer}
	}
	acc, err := access.New(access.Options{Store: deps.Store, Tokens: tokens, Denylist: deny, Now: deps.Now, ReadCacheTTL: cfg.ReadCacheTTL})
	if err != nil {
		return nil, nil, err
	}
	joins, err := join.New(join.Options{Store: deps.Store, Access: acc, Tokens: tokens, Placer: deps.Metrics.Placer(deps.Placer), Removals: removals, Waiting: wait,
		Cluster: deps.Cluster, Regions: deps.Regions, Now: deps.Now,
		SessionTTL: cfg.SessionTTL, MediaTTL: cfg.MediaTokenTTL, TURNTTL: cfg.TURNCredentialTTL})
	if err != nil {
		return nil, nil, err
	}
	spaces, err := space.New(space.Options{Store: deps.Store, Tokens: tokens, PublicURL: strings.TrimSuffix(cfg.PublicURL, "/"), Now: deps.Now})
	if err != nil {
		return nil, nil, err
	}
	mod, err := moderation.New(moderation.Options{Locator: locator, Removals: removals, Cluster: deps.Cluster, Logger: log, Now: deps.Now})
	if err != nil {
		return nil, nil, err
	}
	calls, err := analytics.New(analytics.Options{Store: deps.Store, Now: deps.Now})
	if err != nil {
		return nil, nil, err
	}
	recs, err := recording.New(recording.Options{Store: deps.Store, Locator: locator, Cluster: deps.Cluster, Blob: deps.Recordings, Logger: log, Now: deps.Now})
	if err != nil {
		return nil, nil, err
	}
	users, _ := removals.(removal.UserRevoker)
	rl := cfg.RateLimit
	limiter := func(name string, b Bucket) *ratelimit.Limiter {
		if rl.PerReplica {
			return ratelimit.New(b.Rate, b.Burst, rl.MaxKeys)
		}
		return ratelimit.NewShared(name, b.Rate, b.Burst, rl.MaxKeys, deps.Store)
	}
	a, err := api.New(api.Options{
		Access: acc, Join: joins, Spaces: spaces, Moderation: mod, Analytics: calls, Waiting: wait, Recording: recs,
		Store: deps.Store, Tokens: tokens, Denylist: deny, UserRevoker: users, Logger: log, Now: deps.Now, Metrics: deps.Metrics,
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, MediaTTL: cfg.MediaTokenTTL,
		TokenPerAddress:     limiter("tokenPerAddress", rl.TokenPerAddress),
		TokenPerClient:      limiter("tokenPerClient", rl.TokenPerClient),
		TokenPerUsername:    limiter("tokenPerUsername", rl.TokenPerUsername),
		CreateUserPerClient: limiter("createUserPerClient", rl.CreateUserPerClient),
		JoinPerAddress:      limiter("joinPerAddress", rl.JoinPerAddress),
		GuestJoinPerAddress: limiter("guestJoinPerAddress", rl.GuestJoinPerAddress),
		RequestTimeout:      cfg.RequestTimeout,
		ClientIP:            proxies,
	})
	return a, acc, err
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

// serve answers one request and returns the route pattern it served
// (metrics.RouteUnmatched for none): what the request is counted and
// logged by, never the raw path.
func (s *Server) serve(c *fasthttp.RequestCtx) string {
	if s.cfg.HSTS {
		// Browsers keep to HTTPS for two years, subdomains included.
		c.Response.Header.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	path := c.Path()
	switch {
	case hasPrefix(path, "/v1/openapi.json"):
		c.SetContentType("application/json")
		c.SetBody(s.spec)
		return "/v1/openapi.json"
	case hasPrefix(path, "/v1/"):
		if p := s.api.Handle(c); p != "" {
			return p
		}
	case string(path) == "/healthz":
		c.SetContentType("application/json")
		c.SetBodyString(`{"status":"ok"}`)
		return "/healthz"
	case string(path) == "/readyz":
		s.ready(c)
		return "/readyz"
	case string(path) == "/docs" || hasPrefix(path, "/docs/"):
		s.docs(c)
		return "/docs/*"
	case hasPrefix(path, "/room/") || hasPrefix(path, "/assets/"):
		if s.deps.Page == nil {
			api.WriteError(c, http.StatusNotFound, "not_found", "the room page is not served here")
			break
		}
		s.deps.Page(c)
		if hasPrefix(path, "/room/") {
			return "/room/*"
		}
		return "/assets/*"
	case hasPrefix(path, "/files/"):
		if s.files == nil {
			api.WriteError(c, http.StatusNotFound, "not_found", "no files are served here")
			break
		}
		s.files(c)
		return "/files/*"
	case hasPrefix(path, "/internal/"):
		if s.deps.Internal == nil {
			api.WriteError(c, http.StatusNotFound, "not_found", "no such path")
			break
		}
		s.deps.Internal(c)
		return "/internal/*"
	case string(path) == "/":
		c.Redirect("/docs", http.StatusFound)
		return "/"
	default:
		api.WriteError(c, http.StatusNotFound, "not_found", "no such path")
	}
	return metrics.RouteUnmatched
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// Run initialises the signing keys and serves on ln until ctx is
// cancelled. Then it drains: /readyz answers 503 at once, requests are
// still served (each answer closing its connection) for DrainDelay, so
// that load balancers move new requests to other replicas; then it stops
// accepting and waits (up to ShutdownTimeout) for the requests in flight.
// While it runs it listens for changes other replicas make
// (store.Changes) and drops what it caches of them. ln is closed on
// return.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	defer ln.Close()
	if err := s.Init(ctx); err != nil {
		return err
	}
	// The watch and the upkeep outlive ctx until the drain is over: the
	// requests in flight still check revocations.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { s.watch(bg) })
	wg.Go(func() { s.upkeep(bg) })
	defer func() { stopBG(); wg.Wait() }()
	srv := s.FastHTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(LingerListener(ln, s.cfg.MaxBodyBytes)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("controlplane: serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	if s.cfg.DrainDelay > 0 {
		s.log.Info("draining: not ready, still serving", "for", s.cfg.DrainDelay)
		t := time.NewTimer(s.cfg.DrainDelay)
		select {
		case <-t.C:
		case err := <-errc:
			t.Stop()
			return fmt.Errorf("controlplane: serve: %w", err)
		}
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

// Draining reports whether Run is draining (its context ended).
func (s *Server) Draining() bool { return s.draining.Load() }

// watch drops what this replica caches of the changes the store reports
// (other replicas' writes, `spacecast admin`): rooms and room roles, token
// revocations, signing keys. The TTLs and refresh intervals stay as the
// bound when notifications are lost.
func (s *Server) watch(ctx context.Context) {
	err := s.deps.Store.Listen(ctx, func(t store.Topic) {
		switch t {
		case store.TopicRooms:
			s.access.Forget(access.CachedRooms | access.CachedRoomRoles)
		case store.TopicRevocations:
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := s.deny.Sync(rctx); err != nil && ctx.Err() == nil {
				s.log.Warn("read token revocations after a change", "err", err)
			}
			cancel()
		case store.TopicKeys:
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := s.keys.Load(rctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reload signing keys after a change", "err", err)
			}
			cancel()
		case store.TopicWaiting:
			s.waiting.Changed()
		}
	})
	if err != nil && ctx.Err() == nil {
		s.log.Error("store change notifications stopped; caches fall back on their TTLs", "err", err)
	}
}

// upkeepEvery is how often a replica prunes the shared rate-limit buckets
// that have refilled.
const upkeepEvery = time.Minute

// upkeep keeps this replica's copies of the revocations and the signing
// keys fresh in the background (every half of revocationSync and of
// keyRefresh), so that a request finds them fresh and never waits for the
// store to refresh them (it does only when this loop has fallen behind),
// and prunes the shared rate-limit buckets.
func (s *Server) upkeep(ctx context.Context) {
	prune := time.NewTicker(upkeepEvery)
	defer prune.Stop()
	revocations := time.NewTicker(max(s.cfg.RevocationSync/2, 10*time.Millisecond))
	defer revocations.Stop()
	keys := time.NewTicker(max(s.cfg.KeyRefresh/2, 10*time.Millisecond))
	defer keys.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-revocations.C:
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := s.deny.Sync(rctx); err != nil && ctx.Err() == nil {
				s.log.Warn("read token revocations", "err", err)
			}
			cancel()
		case <-keys.C:
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := s.keys.Load(rctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reload signing keys", "err", err)
			}
			cancel()
		case <-prune.C:
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := s.deps.Store.PruneRateTokens(rctx, s.deps.Now()); err != nil && ctx.Err() == nil {
				s.log.Warn("prune rate-limit buckets", "err", err)
			}
			if _, err := s.waiting.Prune(rctx); err != nil && ctx.Err() == nil {
				s.log.Warn("prune waiting-room entries", "err", err)
			}
			cancel()
		}
	}
}

// fasthttpLogger logs fasthttp's own messages without their arguments:
// those can quote raw request bytes (a query string with an access token).
type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, _ ...any) {
	l.log.Warn("http server", "event", format)
}
