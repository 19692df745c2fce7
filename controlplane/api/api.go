package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/clientip"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/ratelimit"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/cluster"
)

// Options are the API's dependencies and settings.
type Options struct {
	Store  store.Store
	Tokens *auth.Tokens
	// Denylist refuses revoked tokens; nil refuses none (tests of the
	// routes alone).
	Denylist *auth.Denylist
	Placer   placement.Placer
	Cluster  cluster.Config
	Logger   *slog.Logger
	Now      func() time.Time

	// PublicURL is the web base of generate-access URLs (no trailing slash).
	PublicURL string

	AccessTTL  time.Duration // REST access tokens
	RefreshTTL time.Duration // REST refresh tokens
	SessionTTL time.Duration // join session credentials
	MediaTTL   time.Duration // LiveKit media tokens
	TURNTTL    time.Duration // TURN credentials

	// Rate limits (controlplane.RateLimitConfig tells what each counts);
	// nil means no limit.
	TokenPerAddress     *ratelimit.Limiter
	TokenPerClient      *ratelimit.Limiter
	TokenPerUsername    *ratelimit.Limiter
	CreateUserPerClient *ratelimit.Limiter
	JoinPerAddress      *ratelimit.Limiter
	GuestJoinPerAddress *ratelimit.Limiter

	// ClientIP tells the client's address from the peer's and the
	// forwarding headers of trusted proxies; nil trusts none.
	ClientIP *clientip.Resolver

	// RequestTimeout bounds the storage work of one request.
	RequestTimeout time.Duration

	// Locator finds the edges hosting a room (moderation); nil means
	// PlacerLocator over Placer.
	Locator RoomLocator
	// EdgeClient makes the Twirp calls to edges; nil means a client with a
	// 5 s timeout and no kept-alive connections (moderation is rare).
	EdgeClient *http.Client
	// RemovalTTL is how long a removed participant's credentials issued
	// before the removal are refused (the session TTL when 0).
	RemovalTTL time.Duration
	// Revocations spreads moderators' removals over the cluster (every
	// replica and every edge: controlplane/fleet over gossip); nil keeps
	// them on this replica, which is enough for one replica and one edge
	// (spacecast dev).
	Revocations Revocations
	// Regions lists the regions clients probe before a join (GET
	// /v1/regions); nil answers the region of the edge Placer gives a
	// room-less request, without probe URLs.
	Regions func() []placement.Region

	// ReadCacheTTL is how long rooms and room roles read by authenticated
	// requests are cached on this replica (0 disables the cache). Writes
	// through this replica clear it; other replicas' writes show within
	// the TTL.
	ReadCacheTTL time.Duration
}

// API serves the /v1 surface.
type API struct {
	o           Options
	revocations Revocations
	rt          router
	cache       *readCache // nil when disabled
}

// New checks the options and registers every route.
func New(o Options) (*API, error) {
	if o.Store == nil || o.Tokens == nil || o.Placer == nil {
		return nil, errors.New("api: Store, Tokens and Placer are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.Locator == nil {
		o.Locator = PlacerLocator{Placer: o.Placer}
	}
	if o.EdgeClient == nil {
		o.EdgeClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	if o.RemovalTTL <= 0 {
		o.RemovalTTL = o.SessionTTL
	}
	if o.RemovalTTL <= 0 {
		o.RemovalTTL = 4 * time.Hour
	}
	a := &API{o: o, revocations: o.Revocations}
	if a.revocations == nil {
		a.revocations = NewRemovals(o.RemovalTTL, 100_000)
	}
	if o.ReadCacheTTL > 0 {
		a.cache = newReadCache(o.ReadCacheTTL)
	}
	a.routes()
	return a, nil
}

// Routes lists every registered route (for the OpenAPI cross-check).
func (a *API) Routes() []Route {
	out := make([]Route, len(a.rt.routes))
	for i, r := range a.rt.routes {
		out[i] = *r
	}
	return out
}

func (a *API) routes() {
	r := &a.rt
	r.add("POST", "/v1/auth/token", "issueToken", a.issueToken)
	r.add("POST", "/v1/auth/revoke", "revokeToken", a.revokeToken)

	r.add("POST", "/v1/users", "createUser", a.createUser)
	r.add("GET", "/v1/users/me", "getMe", a.getMe)
	r.add("DELETE", "/v1/users/{userId}", "deleteUser", a.deleteUser)
	r.add("POST", "/v1/users/me/tokens", "createPersonalToken", a.createPersonalToken)
	r.add("GET", "/v1/users/me/tokens", "listPersonalTokens", a.listPersonalTokens)
	r.add("DELETE", "/v1/users/me/tokens/{tokenId}", "deletePersonalToken", a.deletePersonalToken)

	r.add("POST", "/v1/spaces", "createSpace", a.createSpace)
	r.add("GET", "/v1/spaces", "listSpaces", a.listSpaces)
	r.add("GET", "/v1/spaces/room-by-alias/{alias}", "getRoomByAlias", a.getRoomByAlias)
	r.add("GET", "/v1/spaces/{spaceId}", "getSpace", a.getSpace)
	r.add("PUT", "/v1/spaces/{spaceId}", "updateSpace", a.updateSpace)
	r.add("DELETE", "/v1/spaces/{spaceId}", "deleteSpace", a.deleteSpace)
	r.add("GET", "/v1/spaces/{spaceId}/allowed-origins", "getAllowedOrigins", a.getAllowedOrigins)
	r.add("PUT", "/v1/spaces/{spaceId}/allowed-origins", "putAllowedOrigins", a.putAllowedOrigins)

	r.add("POST", "/v1/spaces/{spaceId}/invites", "createInvite", a.createInvite)
	r.add("POST", "/v1/spaces/{spaceId}/invites/{inviteId}/activate", "activateInvite", a.activateInvite)

	r.add("POST", "/v1/spaces/{spaceId}/rooms", "createRoom", a.createRoom)
	r.add("GET", "/v1/spaces/{spaceId}/rooms", "listRooms", a.listRooms)
	r.add("GET", "/v1/spaces/{spaceId}/rooms/{roomId}", "getRoom", a.getRoom)
	r.add("PUT", "/v1/spaces/{spaceId}/rooms/{roomId}", "updateRoom", a.updateRoom)
	r.add("DELETE", "/v1/spaces/{spaceId}/rooms/{roomId}", "deleteRoom", a.deleteRoom)
	r.add("POST", "/v1/spaces/{spaceId}/rooms/{roomId}/roles", "setRoomRole", a.setRoomRole)
	r.add("GET", "/v1/spaces/{spaceId}/rooms/{roomId}/roles", "listRoomRoles", a.listRoomRoles)
	r.add("POST", "/v1/spaces/{spaceId}/rooms/{roomId}/generate-access", "generateAccess", a.generateAccess)
	r.add("POST", "/v1/spaces/{spaceId}/rooms/{roomId}/embed-token", "createEmbedToken", a.createEmbedToken)
	r.add("GET", "/v1/spaces/{spaceId}/rooms/{roomId}/participants", "listParticipants", a.listParticipants)
	r.add("POST", "/v1/spaces/{spaceId}/rooms/{roomId}/participants/{identity}/remove", "removeParticipant", a.removeParticipant)
	r.add("POST", "/v1/spaces/{spaceId}/rooms/{roomId}/participants/{identity}/mute", "muteParticipant", a.muteParticipant)

	r.add("POST", "/v1/spaces/{spaceId}/webhook", "createWebhook", a.createWebhook)
	r.add("PUT", "/v1/spaces/{spaceId}/webhook", "updateWebhook", a.updateWebhook)
	r.add("GET", "/v1/spaces/{spaceId}/webhook", "getWebhook", a.getWebhook)
	r.add("DELETE", "/v1/spaces/{spaceId}/webhook", "deleteWebhook", a.deleteWebhook)
	r.add("PUT", "/v1/spaces/{spaceId}/webhook/refresh-secret", "refreshWebhookSecret", a.refreshWebhookSecret)
	r.add("GET", "/v1/spaces/{spaceId}/webhook/deliveries", "listWebhookDeliveries", a.listWebhookDeliveries)
	r.add("POST", "/v1/spaces/{spaceId}/webhook/deliveries/{deliveryId}/redeliver", "redeliverWebhook", a.redeliverWebhook)
	r.add("GET", "/v1/spaces/{spaceId}/analytics/calls", "listCalls", a.listCalls)
	r.add("GET", "/v1/spaces/{spaceId}/analytics/report", "callReport", a.callReport)

	r.add("POST", "/v1/rooms/{alias}/join", "joinRoom", a.joinRoom)
	r.add("GET", "/v1/regions", "listRegions", a.listRegions)
}

// request is one call being served.
type request struct {
	ctx lazyContext
	c   *fasthttp.RequestCtx
	p   params
	a   *API
	now time.Time
	// cached is the read-cache entry of the room r.room loaded, if any.
	cached *cachedRoom
}

// Handle serves one request under /v1. It answers 404 for unknown paths
// and 405 for known paths with another method.
func (a *API) Handle(c *fasthttp.RequestCtx) {
	path := string(c.Path())
	method := string(c.Method())
	var r request
	route, found := a.rt.match(method, path, &r.p)
	if route == nil {
		if found {
			c.Response.Header.Set("Allow", a.rt.allowed(path))
			writeError(c, &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: method + " is not allowed on this path"})
			return
		}
		writeError(c, &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such API path"})
		return
	}
	// Storage work is bound to a fresh context, not to the fasthttp
	// context, whose Done closes at shutdown: in-flight requests finish.
	// It is made on first use: a read served from the caches needs none.
	r.ctx.timeout = a.o.RequestTimeout
	defer r.ctx.release()
	r.c, r.a, r.now = c, a, a.o.Now()
	err := route.handle(&r)
	if route.invalidates {
		// Cleared after the write whatever its outcome, so no read that
		// raced with it keeps a stale entry past this point.
		a.cache.clear()
	}
	if err != nil {
		e := classify(err)
		if e.Status >= 500 {
			a.o.Logger.Error("request failed", "method", method, "route", route.Pattern, "err", err)
		}
		if e.Status == http.StatusServiceUnavailable {
			c.Response.Header.Set("Retry-After", "5")
		}
		writeError(c, e)
	}
}

// clientAddr is the address the request came from (through trusted
// proxies' forwarding headers).
func (r *request) clientAddr() netip.Addr {
	peer, _ := netip.AddrFromSlice(r.c.RemoteIP())
	if r.a.o.ClientIP == nil {
		return peer.Unmap()
	}
	return r.a.o.ClientIP.Addr(peer, r.c.Request.Header.PeekAll(r.a.o.ClientIP.Header()))
}

// addrKey is the rate-limit key of the request's source (IPv6 per /64).
func (r *request) addrKey() string { return ratelimit.AddrKey(r.clientAddr()) }

// context is the request's storage context (RequestTimeout from its
// first use).
func (r *request) context() context.Context { return &r.ctx }

// lazyContext is a context.WithTimeout made on the first call of any of
// its methods, so that requests that never reach the store or another
// service do not pay for a timer.
type lazyContext struct {
	once    sync.Once
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelFunc
}

func (l *lazyContext) get() context.Context {
	l.once.Do(func() { l.ctx, l.cancel = context.WithTimeout(context.Background(), l.timeout) })
	return l.ctx
}

func (l *lazyContext) release() {
	if l.cancel != nil {
		l.cancel()
	}
}

func (l *lazyContext) Deadline() (time.Time, bool) { return l.get().Deadline() }
func (l *lazyContext) Done() <-chan struct{}       { return l.get().Done() }
func (l *lazyContext) Err() error                  { return l.get().Err() }
func (l *lazyContext) Value(key any) any           { return l.get().Value(key) }

func writeError(c *fasthttp.RequestCtx, e *Error) {
	writeJSON(c, e.Status, errorBody{Code: e.Code, Message: e.Message, Field: e.Field})
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeJSON answers v as JSON with status.
func writeJSON(c *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":"internal","message":"internal error"}`)
	}
	c.SetStatusCode(status)
	c.SetContentType("application/json")
	c.SetBody(b)
}

// TooLarge answers the 413 of a body over the server's limit.
func TooLarge(c *fasthttp.RequestCtx) {
	writeError(c, &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "the request body is too large"})
}

// WriteError answers err in the API's error form.
func WriteError(c *fasthttp.RequestCtx, status int, code, message string) {
	writeError(c, &Error{Status: status, Code: code, Message: message})
}

func (r *request) json(status int, v any) error {
	writeJSON(r.c, status, v)
	return nil
}

// decode decodes the body into dst.
func (r *request) decode(dst any) error { return decodeJSON(r.c.PostBody(), dst) }

// id returns path parameter i after checking it has the shape of an id.
func (r *request) id(i int, name string) (string, error) {
	s := r.p.get(i)
	if !validID(s) {
		return "", badInput("invalid_id", name, fieldf(name, "is not a valid id"))
	}
	return s, nil
}

// page reads offset and limit from the query.
func (r *request) page() (store.Page, error) {
	var p store.Page
	args := r.c.QueryArgs()
	for _, q := range []struct {
		name string
		dst  *int
		max  int
	}{{"offset", &p.Offset, 1 << 30}, {"limit", &p.Limit, 500}} {
		v := args.Peek(q.name)
		if v == nil {
			continue
		}
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 || n > q.max {
			return p, badInput("invalid_query", q.name, fieldf(q.name, "must be an integer between 0 and %d", q.max))
		}
		*q.dst = n
	}
	return p, nil
}

// list is the reference's list form.
type list[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

// idOnly is the answer of most creates.
type idOnly struct {
	ID string `json:"id"`
}
