package webhook

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/retry"
)

// Sentinel errors.
var (
	// ErrInvalidConfig marks an unusable `webhooks:` section or Deps.
	ErrInvalidConfig = errors.New("webhook: invalid config")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("webhook: already running")
	// ErrClosed: the component was closed.
	ErrClosed = errors.New("webhook: closed")
)

// Config is the `webhooks:` section.
type Config struct {
	// Workers is the number of concurrent deliveries (16). One room's
	// events are delivered one at a time, in order.
	Workers int `yaml:"workers"`
	// PerTenant is how many deliveries of one tenant (API client) may be
	// in flight at once (0: a quarter of Workers, at least 1): a tenant
	// whose receiver is slow or down holds at most that many workers,
	// through its attempts and the waits between them; the other workers
	// keep delivering everyone else's events.
	PerTenant int `yaml:"perTenant"`
	// QueueSize bounds the events waiting for delivery (4096). An event
	// that does not fit is dropped and counted.
	QueueSize int `yaml:"queueSize"`
	// TenantQueue bounds the events of one tenant waiting for a worker
	// (0: a sixteenth of QueueSize, at least 64 or QueueSize when smaller):
	// a tenant whose receiver is slow drops its own events beyond it
	// (counted), not everyone's.
	TenantQueue int `yaml:"tenantQueue"`
	// Timeout bounds one delivery attempt, everything included: DNS,
	// connection, TLS, the request and the answer with its body (10 s).
	Timeout time.Duration `yaml:"timeout"`
	// DeliveryTimeout bounds one event's delivery, every attempt and the
	// waits between them included (2 min); then the event is dropped and
	// counted.
	DeliveryTimeout time.Duration `yaml:"deliveryTimeout"`
	// Retries is how many times an attempt that failed on the network, with
	// a 5xx or with a 429 is retried (3); then the event is dropped.
	Retries int `yaml:"retries"`
	// RetryBackoff is the first retry's delay (1 s), doubled per retry up
	// to MaxBackoff (30 s), each jittered to between half and all of it. A
	// 429 or 503 with Retry-After in seconds waits that long (at most
	// MaxBackoff).
	RetryBackoff time.Duration `yaml:"retryBackoff"`
	MaxBackoff   time.Duration `yaml:"maxBackoff"`
	// AllowPrivate lets deliveries reach loopback, private, link-local and
	// other non-public addresses. Off in production: a space owner could
	// otherwise make the control plane call its internal network or the
	// cloud metadata service.
	AllowPrivate bool `yaml:"allowPrivate"`
	// Allow lists non-public prefixes (CIDR or single addresses) that
	// deliveries may reach anyway (an internal receiver).
	Allow []string `yaml:"allow"`
	// Calls tunes the call tracker (NewCalls).
	Calls CallsConfig `yaml:"calls"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Workers: 16, QueueSize: 4096, Timeout: 10 * time.Second,
		DeliveryTimeout: 2 * time.Minute, Retries: 3, RetryBackoff: time.Second, MaxBackoff: 30 * time.Second,
		Calls: DefaultCallsConfig()}
}

// Validate checks the section.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	if c.Workers < 1 || c.Workers > 1024 {
		bad("workers must be 1 to 1024")
	}
	if c.PerTenant < 0 || c.PerTenant > c.Workers {
		bad("perTenant must be 0 (a quarter of workers) to workers")
	}
	if c.QueueSize < c.Workers {
		bad("queueSize must be at least workers")
	}
	if c.TenantQueue < 0 || c.TenantQueue > c.QueueSize {
		bad("tenantQueue must be 0 (a sixteenth of queueSize, at least 64) to queueSize")
	}
	if c.Timeout <= 0 {
		bad("timeout must be > 0")
	}
	if c.DeliveryTimeout < c.Timeout {
		bad("deliveryTimeout must be at least timeout")
	}
	if c.Retries < 0 || c.Retries > 20 {
		bad("retries must be 0 to 20")
	}
	if c.RetryBackoff <= 0 || c.MaxBackoff < c.RetryBackoff {
		bad("retryBackoff must be > 0 and maxBackoff at least retryBackoff")
	}
	if _, err := newGuard(c.AllowPrivate, c.Allow); err != nil {
		errs = append(errs, err)
	}
	if err := c.Calls.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// perTenant is PerTenant with its default applied.
func (c Config) perTenant() int {
	if c.PerTenant > 0 {
		return c.PerTenant
	}
	return max(1, c.Workers/4)
}

// tenantQueue is TenantQueue with its default applied.
func (c Config) tenantQueue() int {
	if c.TenantQueue > 0 {
		return c.TenantQueue
	}
	return max(c.QueueSize/16, min(c.QueueSize, 64))
}

// Store is what the Deliverer reads: sqlite.Store has both.
type Store interface {
	// GetRoomByID finds a room by id whatever its client.
	GetRoomByID(ctx context.Context, id store.RoomID) (store.Room, error)
	GetWebhook(ctx context.Context, client store.ClientID, space store.SpaceID) (store.Webhook, error)
}

// Deps are what a Deliverer works with.
type Deps struct {
	Store  Store // required
	Logger *slog.Logger
	// Registerer takes the counters; nil: not registered.
	Registerer prometheus.Registerer
}

// Deliverer delivers events to the spaces' webhooks. Deliver may be called
// from any goroutine and never blocks; Run does the work: one goroutine
// takes the events in order and finds their webhooks, Workers deliver
// them, each tenant's at most PerTenant at a time.
type Deliverer struct {
	cfg    Config
	store  Store
	log    *slog.Logger
	tr     *http.Transport
	client *http.Client
	intake chan Event
	sched  *sched
	m      delivererMetrics

	mu      sync.Mutex
	running bool
	done    chan struct{}
	once    sync.Once
}

type delivererMetrics struct {
	delivered prometheus.Counter
	retried   prometheus.Counter
	failed    *prometheus.CounterVec // reason: exhausted, timeout, rejected, forbidden_address, bad_url, store
	dropped   *prometheus.CounterVec // reason: queue_full, tenant_queue_full, closed, shutdown
	skipped   *prometheus.CounterVec // reason: no_room, no_webhook, inactive
}

// New checks cfg and deps and builds a Deliverer; it starts nothing.
func New(cfg Config, deps Deps) (*Deliverer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil {
		return nil, fmt.Errorf("%w: Deps.Store is required", ErrInvalidConfig)
	}
	g, err := newGuard(cfg.AllowPrivate, cfg.Allow)
	if err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, round the guard
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	d := &Deliverer{
		cfg: cfg, store: deps.Store, log: log.With("component", "webhook"), tr: tr,
		client: &http.Client{
			Transport: tr,
			// A redirect is the receiver's answer, not a new target: the
			// webhook's URL is what its owner registered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		done: make(chan struct{}),
		m: delivererMetrics{
			delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "spacecast_webhook_delivered_total", Help: "Webhook events the receiver accepted (2xx)."}),
			retried:   prometheus.NewCounter(prometheus.CounterOpts{Name: "spacecast_webhook_retries_total", Help: "Retried webhook delivery attempts."}),
			failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spacecast_webhook_failed_total",
				Help: "Webhook events given up on after trying: retries exhausted, delivery timeout, refused by the receiver, forbidden address, bad URL, store error."}, []string{"reason"}),
			dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spacecast_webhook_dropped_total",
				Help: "Webhook events dropped before or between attempts: queue full, the tenant's queue full, closed, shutdown."}, []string{"reason"}),
			skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spacecast_webhook_skipped_total",
				Help: "Events with nobody to deliver to: unknown room, no webhook, inactive webhook."}, []string{"reason"}),
		},
	}
	d.intake = make(chan Event, cfg.QueueSize)
	d.sched = newSched(cfg.perTenant(), cfg.tenantQueue(), cfg.QueueSize)
	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{d.m.delivered, d.m.retried, d.m.failed, d.m.dropped, d.m.skipped} {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("webhook: metrics: %w", err)
			}
		}
	}
	return d, nil
}

// Deliver queues ev for delivery; false when it was dropped (a full queue,
// or the Deliverer is closed). It never blocks.
func (d *Deliverer) Deliver(ev Event) bool {
	select {
	case <-d.done:
		d.m.dropped.WithLabelValues("closed").Inc()
		return false
	default:
	}
	select {
	case d.intake <- ev:
		return true
	default:
		d.m.dropped.WithLabelValues("queue_full").Inc()
		d.log.Warn("webhook queue full: event dropped", "room", ev.RoomID, "event", ev.Name)
		return false
	}
}

// Run delivers until ctx ends or Close is called, then stops the attempts
// in flight, counts what is left in the queues as dropped and returns nil.
func (d *Deliverer) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return ErrRunning
	}
	d.running = true
	d.mu.Unlock()
	defer d.tr.CloseIdleConnections()
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { d.resolve(wctx) })
	for range d.cfg.Workers {
		wg.Go(func() { d.work(wctx) })
	}
	select {
	case <-ctx.Done():
	case <-d.done:
	}
	cancel()
	wg.Wait()
	left := d.sched.drain()
	for len(d.intake) > 0 {
		<-d.intake
		left++
	}
	if left > 0 {
		d.m.dropped.WithLabelValues("shutdown").Add(float64(left))
		d.log.Warn("webhook events left undelivered at shutdown", "events", left)
	}
	return nil
}

// Close stops Run and makes Deliver drop; safe to call twice.
func (d *Deliverer) Close() error {
	d.once.Do(func() { close(d.done) })
	return nil
}

// resolve takes the events in the order they came, finds each one's
// webhook and hands it to the workers' scheduler under its tenant.
func (d *Deliverer) resolve(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-d.intake:
			j, ok := d.prepare(ctx, ev)
			if !ok {
				continue
			}
			switch d.sched.add(j) {
			case tenantFull:
				d.m.dropped.WithLabelValues("tenant_queue_full").Inc()
				d.log.Warn("webhook queue of the tenant full: event dropped", "client", string(j.ev.ClientID), "room", string(ev.RoomID), "event", string(ev.Name))
			case allFull:
				d.m.dropped.WithLabelValues("queue_full").Inc()
				d.log.Warn("webhook queue full: event dropped", "room", string(ev.RoomID), "event", string(ev.Name))
			}
		}
	}
}

func (d *Deliverer) work(ctx context.Context) {
	for {
		if j, ok := d.sched.take(); ok {
			d.deliver(ctx, j)
			d.sched.done(j)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-d.sched.wake:
		}
	}
}

// outcome of one attempt.
type outcome int

const (
	delivered outcome = iota
	retryable
	final
)

// prepare finds ev's tenant, space and webhook and signs the payload;
// false when there is nothing to deliver (counted). Its store reads get
// Timeout: a stuck store does not stall every tenant's events for ever.
func (d *Deliverer) prepare(ctx context.Context, ev Event) (job, bool) {
	log := d.log.With("room", string(ev.RoomID), "event", string(ev.Name))
	rctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	if ev.ClientID == "" || ev.SpaceID == "" {
		rm, err := d.store.GetRoomByID(rctx, ev.RoomID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			d.m.skipped.WithLabelValues("no_room").Inc()
			return job{}, false
		case err != nil:
			d.fail(ctx, log, "store", err)
			return job{}, false
		}
		ev.ClientID, ev.SpaceID = rm.ClientID, rm.SpaceID
	}
	wh, err := d.store.GetWebhook(rctx, ev.ClientID, ev.SpaceID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.m.skipped.WithLabelValues("no_webhook").Inc()
		return job{}, false
	case err != nil:
		d.fail(ctx, log, "store", err)
		return job{}, false
	case !wh.IsActive:
		d.m.skipped.WithLabelValues("inactive").Inc()
		return job{}, false
	}
	payload, err := Envelope(wh.Secret, Body{EventName: ev.Name, RoomID: string(ev.RoomID), SpaceID: string(ev.SpaceID), RecordID: ev.RecordID})
	if err != nil {
		d.fail(ctx, log, "encode", err)
		return job{}, false
	}
	return job{ev: ev, url: wh.URL, payload: payload}, true
}

// deliver makes the attempts of one job, within DeliveryTimeout.
func (d *Deliverer) deliver(ctx context.Context, j job) {
	ev := j.ev
	id := deliveryID()
	log := d.log.With("room", string(ev.RoomID), "event", string(ev.Name), "space", string(ev.SpaceID), "delivery", id)
	dctx, cancel := context.WithTimeoutCause(ctx, d.cfg.DeliveryTimeout, errDeliveryTimeout)
	defer cancel()
	var wait time.Duration
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			d.m.retried.Inc()
			if !retry.Sleep(dctx, wait) {
				d.stopped(ctx, dctx, log)
				return
			}
		}
		out, reason, retryAfter, err := d.attempt(dctx, j.url, j.payload, ev.Name, id)
		switch out {
		case delivered:
			d.m.delivered.Inc()
			log.Debug("webhook delivered", "attempts", attempt+1)
			return
		case final:
			d.fail(ctx, log, reason, err)
			return
		}
		if dctx.Err() != nil {
			d.stopped(ctx, dctx, log)
			return
		}
		if attempt == d.cfg.Retries {
			d.fail(ctx, log, "exhausted", err)
			return
		}
		wait = d.backoff(attempt+1, retryAfter)
	}
}

// errDeliveryTimeout is the cause of a delivery cut by DeliveryTimeout.
var errDeliveryTimeout = errors.New("webhook: delivery timeout")

// stopped counts a delivery cut short: by shutdown or by its time budget.
func (d *Deliverer) stopped(ctx, dctx context.Context, log *slog.Logger) {
	if ctx.Err() != nil {
		d.m.dropped.WithLabelValues("shutdown").Inc()
		return
	}
	d.fail(ctx, log, "timeout", context.Cause(dctx))
}

func (d *Deliverer) fail(ctx context.Context, log *slog.Logger, reason string, err error) {
	if ctx.Err() != nil {
		d.m.dropped.WithLabelValues("shutdown").Inc()
		return
	}
	d.m.failed.WithLabelValues(reason).Inc()
	log.Warn("webhook delivery failed", "reason", reason, "err", err)
}

// attempt POSTs once. retryAfter is the receiver's Retry-After (0: none).
func (d *Deliverer) attempt(ctx context.Context, raw string, payload []byte, name EventName, id string) (out outcome, reason string, retryAfter time.Duration, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return final, "bad_url", 0, errors.New("webhook: the webhook's url is not an absolute http(s) URL")
	}
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u.String(), bytes.NewReader(payload))
	if err != nil {
		return final, "bad_url", 0, fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Spacecast-Webhook/1")
	req.Header.Set("X-Spacecast-Event", string(name))
	req.Header.Set("X-Spacecast-Delivery", id)
	resp, err := d.client.Do(req)
	if err != nil {
		// The error quotes the URL, whose query may hold the receiver's
		// secret (?token=...): it is logged, so only its origin and path.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redact(u)
		}
		if errors.Is(err, ErrForbiddenAddress) {
			return final, "forbidden_address", 0, err
		}
		return retryable, "", 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code/100 == 2:
		return delivered, "", 0, nil
	case code == http.StatusTooManyRequests || code/100 == 5:
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
			retryAfter = time.Duration(s) * time.Second
		}
		return retryable, "", retryAfter, fmt.Errorf("webhook: receiver answered %d", code)
	default:
		return final, "rejected", 0, fmt.Errorf("webhook: receiver answered %d", code)
	}
}

// backoff is the wait before retry n (1, 2, …): RetryBackoff·2^(n-1) up to
// MaxBackoff, jittered to between half and all of it; a Retry-After
// replaces it (capped at MaxBackoff).
func (d *Deliverer) backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, d.cfg.MaxBackoff)
	}
	return retry.Backoff(d.cfg.RetryBackoff, d.cfg.MaxBackoff, n)
}

// redact is a URL fit for a log: scheme, host and path; no user info,
// query or fragment.
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}

func deliveryID() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
