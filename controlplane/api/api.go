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

	"github.com/spacecast/spacecast/controlplane/access"
	"github.com/spacecast/spacecast/controlplane/analytics"
	"github.com/spacecast/spacecast/controlplane/auth"
	"github.com/spacecast/spacecast/controlplane/clientip"
	"github.com/spacecast/spacecast/controlplane/join"
	"github.com/spacecast/spacecast/controlplane/metrics"
	"github.com/spacecast/spacecast/controlplane/moderation"
	"github.com/spacecast/spacecast/controlplane/ratelimit"
	"github.com/spacecast/spacecast/controlplane/recording"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/controlplane/space"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/waiting"
	"github.com/spacecast/spacecast/internal/requestid"
)

// Options are the API's dependencies and settings.
type Options struct {
	// The services that hold the rules.
	Access     *access.Service
	Join       *join.Service
	Spaces     *space.Service
	Moderation *moderation.Service
	Analytics  *analytics.Service
	Recording  *recording.Service
	Waiting    *waiting.Service

	// Store, Tokens and Denylist serve the token endpoints, users and
	// personal tokens. Denylist (nil: none) hears the revocations they
	// record.
	Store    store.Store
	Tokens   *auth.Tokens
	Denylist *auth.Denylist
	// UserRevoker (nil: none) disconnects a deleted user's participants
	// from every edge.
	UserRevoker removal.UserRevoker

	Logger *slog.Logger
	Now    func() time.Time
	// Metrics counts joins, tokens issued and rate-limit refusals (nil:
	// nothing is counted).
	Metrics *metrics.Metrics

	AccessTTL  time.Duration // REST access tokens
	RefreshTTL time.Duration // REST refresh tokens
	MediaTTL   time.Duration // LiveKit media tokens: how long a deleted user stays barred on the edges

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
}

// API serves the /v1 surface.
type API struct {
	o  Options
	rt router
}

// New checks the options and registers every route of the route table.
func New(o Options) (*API, error) {
	if o.Access == nil || o.Join == nil || o.Spaces == nil || o.Moderation == nil || o.Analytics == nil || o.Waiting == nil || o.Store == nil || o.Tokens == nil {
		return nil, errors.New("api: Access, Join, Spaces, Moderation, Analytics, Waiting, Store and Tokens are required")
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
	a := &API{o: o}
	for _, r := range routeTable() {
		if err := a.rt.add(r); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// request is one call being served.
type request struct {
	ctx lazyContext
	c   *fasthttp.RequestCtx
	p   params
	a   *API
	// at is the request's time, read on first use (now): reading the
	// clock is not free, and most reads use none.
	at time.Time
	// caller is who presented the bearer token, for a route whose
	// Operation.Auth asks for one.
	caller access.Caller
	// session is the bearer token when it is a participant's session
	// credential, on a route that takes one (AuthAnyOrSession); caller is
	// then empty.
	session string
}

// now is the request's time: the same for every use within the request.
func (r *request) now() time.Time {
	if r.at.IsZero() {
		r.at = r.a.o.Now()
	}
	return r.at
}

// Handle serves one request under /v1 and returns the route pattern it
// matched (the route table's path, such as /v1/rooms/{alias}/join: what
// metrics and the access log name a request by, never the raw path), ""
// when none did. It answers 404 for unknown paths and 405 for known paths
// with another method.
func (a *API) Handle(c *fasthttp.RequestCtx) (pattern string) {
	path := string(c.Path())
	method := string(c.Method())
	var r request
	route, found := a.rt.match(method, path, &r.p)
	if route == nil {
		if found {
			c.Response.Header.Set("Allow", a.rt.allowed(path))
			writeError(c, &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: method + " is not allowed on this path"})
			return ""
		}
		writeError(c, &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such API path"})
		return ""
	}
	// Storage work is bound to a fresh context, not to the fasthttp
	// context, whose Done closes at shutdown: in-flight requests finish.
	// It is made on first use: a read served from the caches needs none.
	r.ctx.timeout = a.o.RequestTimeout
	defer r.ctx.release()
	r.c, r.a = c, a
	err := r.authenticate(route.Auth)
	if err == nil {
		err = route.handle(a, &r)
	}
	if route.invalidates != 0 {
		// Forgotten after the write whatever its outcome, so no read that
		// raced with it keeps a stale entry past this point.
		a.o.Access.Forget(route.invalidates)
	}
	if err != nil {
		e := classify(err)
		if e.Status >= 500 {
			a.o.Logger.Error("request failed", "method", method, "route", route.Path, "err", err,
				"request_id", string(c.Request.Header.Peek(requestid.Header)))
		}
		if e.Status == http.StatusServiceUnavailable {
			c.Response.Header.Set("Retry-After", "5")
		}
		writeError(c, e)
	}
	return route.Path
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

// spaceID is the {spaceId} path parameter (index 0).
func (r *request) spaceID() (store.SpaceID, error) {
	id, err := r.id(0, "spaceId")
	return store.SpaceID(id), err
}

// roomRef is the room of the {spaceId} and {roomId} path parameters
// (indexes 0 and 1).
func (r *request) roomRef() (access.RoomRef, error) {
	sid, err := r.id(0, "spaceId")
	if err != nil {
		return access.RoomRef{}, err
	}
	rid, err := r.id(1, "roomId")
	if err != nil {
		return access.RoomRef{}, err
	}
	return access.RoomRef{Space: store.SpaceID(sid), Room: store.RoomID(rid)}, nil
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
