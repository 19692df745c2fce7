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
	// Workers is the number of attempts this replica makes at once (16).
	Workers int `yaml:"workers"`
	// PerTenant is how many deliveries of one tenant (API client) may be
	// in flight at once on all replicas together (0: a quarter of
	// Workers, at least 1): a tenant whose receiver is slow or down holds
	// at most that many workers; the others keep delivering everyone
	// else's events.
	PerTenant int `yaml:"perTenant"`
	// Timeout bounds one delivery attempt, everything included: DNS,
	// connection, TLS, the request and the answer with its body (10 s).
	Timeout time.Duration `yaml:"timeout"`
	// DeliveryTimeout is the retry window: an event not delivered this
	// long after it was queued is given up (1 h). A receiver that is down
	// for less gets every event when it is back.
	DeliveryTimeout time.Duration `yaml:"deliveryTimeout"`
	// Retries is how many times an attempt that failed on the network,
	// with a 5xx or with a 429 is retried (20), within DeliveryTimeout.
	Retries int `yaml:"retries"`
	// RetryBackoff is the first retry's delay (1 s), doubled per retry up
	// to MaxBackoff (5 min), each jittered to between half and all of it.
	// A 429 or 503 with Retry-After in seconds waits that long (at most
	// MaxBackoff).
	RetryBackoff time.Duration `yaml:"retryBackoff"`
	MaxBackoff   time.Duration `yaml:"maxBackoff"`
	// Poll is how often the outbox is looked at when no change
	// notification says there is something to deliver (1 s): the bound on
	// a retry's lateness, and the fallback when notifications are lost.
	Poll time.Duration `yaml:"poll"`
	// Keep is how long finished deliveries stay in the delivery log
	// (7 days).
	Keep time.Duration `yaml:"keep"`
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
	return Config{Workers: 16, Timeout: 10 * time.Second, DeliveryTimeout: time.Hour, Retries: 20,
		RetryBackoff: time.Second, MaxBackoff: 5 * time.Minute, Poll: time.Second, Keep: 7 * 24 * time.Hour,
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
	if c.Timeout <= 0 {
		bad("timeout must be > 0")
	}
	if c.DeliveryTimeout < c.Timeout {
		bad("deliveryTimeout must be at least timeout")
	}
	if c.Retries < 0 || c.Retries > 100 {
		bad("retries must be 0 to 100")
	}
	if c.RetryBackoff <= 0 || c.MaxBackoff < c.RetryBackoff {
		bad("retryBackoff must be > 0 and maxBackoff at least retryBackoff")
	}
	if c.Poll < 10*time.Millisecond || c.Poll > time.Minute {
		bad("poll must be 10ms to 1m")
	}
	if c.Keep < time.Hour {
		bad("keep must be at least 1h")
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

// Store is what the Deliverer uses of the store.
type Store interface {
	// GetRoomByID finds a room by id whatever its client (Deliver).
	GetRoomByID(ctx context.Context, id store.RoomID) (store.Room, error)
	GetWebhook(ctx context.Context, client store.ClientID, space store.SpaceID) (store.Webhook, error)
	EnqueueWebhookEvent(ctx context.Context, id string, ev store.WebhookEvent, now time.Time) (bool, error)
	ClaimWebhookDeliveries(ctx context.Context, c store.WebhookClaim) ([]store.WebhookDelivery, error)
	RecordWebhookAttempt(ctx context.Context, a store.WebhookAttempt) error
	PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error)
	PendingWebhookDeliveries(ctx context.Context) (int, error)
	Listen(ctx context.Context, fn func(store.Topic)) error
}

// Deps are what a Deliverer works with.
type Deps struct {
	Store  Store // required
	Logger *slog.Logger
	// Registerer takes the counters; nil: not registered.
	Registerer prometheus.Registerer
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Deliverer delivers the outbox (store.Deliveries) to the spaces'
// webhooks. Every replica runs one: each claims due deliveries for one
// attempt at a time under a lease, so a delivery a dead replica was making
// is made by another once the lease runs out, and a receiver that dedupes
// on the event id sees each event once.
type Deliverer struct {
	cfg    Config
	store  Store
	log    *slog.Logger
	now    func() time.Time
	owner  string // this run's claims
	tr     *http.Transport
	client *http.Client
	m      delivererMetrics
	wake   chan struct{}

	mu      sync.Mutex
	running bool
	done    chan struct{}
	once    sync.Once
}

type delivererMetrics struct {
	delivered prometheus.Counter
	retried   prometheus.Counter
	failed    *prometheus.CounterVec // reason: exhausted, timeout, rejected, forbidden_address, bad_url, no_webhook, inactive
	lost      prometheus.Counter     // attempts whose lease another replica took over
	depth     prometheus.Gauge       // the outbox's pending deliveries, of every replica
	latency   prometheus.Histogram   // queued → accepted by the receiver
	attempt   *prometheus.HistogramVec
}

// depthPolls is how many Poll intervals apart a replica counts the
// outbox's pending deliveries (the queue depth gauge).
const depthPolls = 5

// leaseMargin is added to Timeout for a claim's lease: an attempt cut by
// its timeout records its outcome well before another replica may claim
// the delivery again.
const leaseMargin = 10 * time.Second

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
	now := deps.Now
	if now == nil {
		now = time.Now
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
		cfg: cfg, store: deps.Store, log: log.With("component", "webhook"), now: now, owner: randomID(), tr: tr,
		client: &http.Client{
			Transport: tr,
			// A redirect is the receiver's answer, not a new target: the
			// webhook's URL is what its owner registered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		m: delivererMetrics{
			delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "spacecast_webhook_delivered_total", Help: "Webhook deliveries the receiver accepted (2xx)."}),
			retried:   prometheus.NewCounter(prometheus.CounterOpts{Name: "spacecast_webhook_retries_total", Help: "Webhook attempts that failed and will be retried."}),
			failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spacecast_webhook_failed_total",
				Help: "Webhook deliveries given up: retries or the retry window exhausted, refused by the receiver, forbidden address, bad URL, no or inactive webhook."}, []string{"reason"}),
			lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "spacecast_webhook_leases_lost_total",
				Help: "Webhook attempts that ended after their lease passed to another claim (the receiver may see that event twice; it dedupes on its id)."}),
			depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "spacecast_webhook_queue_depth",
				Help: "Webhook deliveries pending in the outbox (every replica's: the store's count, refreshed every 5 polls)."}),
			latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "spacecast_webhook_delivery_seconds",
				Help:    "Time from an event's queueing to its acceptance by the receiver, retries included.",
				Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600}}),
			attempt: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "spacecast_webhook_attempt_duration_seconds",
				Help:    "Time of one delivery attempt (the POST to the receiver), by outcome: delivered, retry, failed.",
				Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"outcome"}),
		},
	}
	if deps.Registerer != nil {
		for _, c := range []prometheus.Collector{d.m.delivered, d.m.retried, d.m.failed, d.m.lost, d.m.depth, d.m.latency, d.m.attempt} {
			if err := deps.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("webhook: metrics: %w", err)
			}
		}
	}
	return d, nil
}

// Enqueue queues ev in the outbox, looking its room up when ev lacks the
// client or space; false when there is nobody to deliver to (an unknown
// room, no active webhook).
func (d *Deliverer) Enqueue(ctx context.Context, ev Event) (bool, error) {
	if ev.ClientID == "" || ev.SpaceID == "" {
		rm, err := d.store.GetRoomByID(ctx, ev.RoomID)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("webhook: enqueue: %w", err)
		}
		ev.ClientID, ev.SpaceID = rm.ClientID, rm.SpaceID
	}
	now := d.now()
	ok, err := d.store.EnqueueWebhookEvent(ctx, store.NewID(), store.WebhookEvent{ID: store.NewID(), Name: string(ev.Name),
		ClientID: ev.ClientID, SpaceID: ev.SpaceID, RoomID: ev.RoomID, RecordID: ev.RecordID, At: now}, now)
	if err != nil {
		return false, fmt.Errorf("webhook: enqueue: %w", err)
	}
	if ok {
		d.poke()
	}
	return ok, nil
}

// Deliver is Enqueue within 5 s; false when the event was not queued.
func (d *Deliverer) Deliver(ev Event) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok, err := d.Enqueue(ctx, ev)
	if err != nil {
		d.log.Warn("webhook event not queued", "room", string(ev.RoomID), "event", string(ev.Name), "err", err)
	}
	return ok
}

// poke wakes the dispatcher (never blocks).
func (d *Deliverer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends or Close is called. It claims due
// deliveries (one attempt each, under a lease) whenever a worker is free
// and the outbox may have something: a change notification (a delivery
// queued on any replica), a finished attempt, or every Poll. At the end
// the attempts in flight are cut and recorded as to be retried at once,
// by another replica; Run returns nil.
func (d *Deliverer) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return ErrRunning
	}
	d.running = true
	d.mu.Unlock()
	defer d.tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan store.WebhookDelivery, d.cfg.Workers)
	freed := make(chan struct{}, d.cfg.Workers)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-d.done:
			cancel()
		case <-ctx.Done():
		}
	})
	wg.Go(func() {
		err := d.store.Listen(ctx, func(t store.Topic) {
			if t == store.TopicDeliveries {
				d.poke()
			}
		})
		if err != nil && ctx.Err() == nil {
			d.log.Warn("no change notifications: the outbox is polled only", "err", err)
		}
	})
	for range d.cfg.Workers {
		wg.Go(func() {
			for j := range jobs {
				d.attempt(ctx, j)
				freed <- struct{}{}
			}
		})
	}
	d.dispatch(ctx, jobs, freed)
	close(jobs)
	wg.Wait()
	return nil
}

// dispatch claims deliveries for free workers until ctx ends.
func (d *Deliverer) dispatch(ctx context.Context, jobs chan<- store.WebhookDelivery, freed <-chan struct{}) {
	free := d.cfg.Workers
	poll := time.NewTicker(d.cfg.Poll)
	defer poll.Stop()
	pruned, counted := time.Time{}, time.Time{}
	for {
		if t := time.Now(); t.Sub(counted) >= depthPolls*d.cfg.Poll {
			counted = t
			d.countPending(ctx)
		}
		if free > 0 {
			now := d.now()
			cctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
			l, err := d.store.ClaimWebhookDeliveries(cctx, store.WebhookClaim{Owner: d.owner, Max: free, PerTenant: d.cfg.perTenant(),
				Now: now, LeaseUntil: now.Add(d.cfg.Timeout + leaseMargin)})
			cancel()
			if err != nil && ctx.Err() == nil {
				d.log.Warn("claim webhook deliveries", "err", err)
			}
			for _, j := range l {
				jobs <- j
				free--
			}
			if now.Sub(pruned) >= time.Hour {
				pruned = now
				pctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
				if n, err := d.store.PruneWebhookDeliveries(pctx, now.Add(-d.cfg.Keep)); err != nil && ctx.Err() == nil {
					d.log.Warn("prune the delivery log", "err", err)
				} else if n > 0 {
					d.log.Info("delivery log pruned", "deliveries", n)
				}
				cancel()
			}
			if free > 0 && len(l) > 0 && err == nil {
				continue // there may be more
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-freed:
			free++
		case <-d.wake:
		case <-poll.C:
		}
	}
}

// countPending sets the queue depth gauge from the store.
func (d *Deliverer) countPending(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	n, err := d.store.PendingWebhookDeliveries(cctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("count pending webhook deliveries", "err", err)
		}
		return
	}
	d.m.depth.Set(float64(n))
}

// Close stops Run; safe to call twice.
func (d *Deliverer) Close() error {
	d.once.Do(func() { close(d.done) })
	return nil
}

// attempt makes one attempt of a claimed delivery and records how it
// ended.
func (d *Deliverer) attempt(ctx context.Context, j store.WebhookDelivery) {
	ev := j.Event
	log := d.log.With("room", string(ev.RoomID), "event", ev.Name, "space", string(ev.SpaceID), "client", string(ev.ClientID),
		"delivery", j.ID, "eventId", ev.ID, "attempt", j.Attempts)
	out := store.WebhookAttempt{ClientID: ev.ClientID, DeliveryID: j.ID, Owner: d.owner, Attempt: j.Attempts}
	reason := ""
	var retryAfter time.Duration
	wctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	wh, err := d.store.GetWebhook(wctx, ev.ClientID, ev.SpaceID)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		out.Outcome, reason, out.Error = store.AttemptFailed, "no_webhook", "the space has no webhook"
	case err != nil:
		out.Outcome, out.Error = store.AttemptRetry, "store: "+err.Error()
	case !wh.IsActive:
		out.Outcome, reason, out.Error = store.AttemptFailed, "inactive", "the space's webhook is inactive"
	default:
		var o outcome
		start := time.Now()
		o, reason, retryAfter, out.StatusCode, err = d.post(ctx, wh, j)
		d.m.attempt.WithLabelValues(o.String()).Observe(time.Since(start).Seconds())
		switch o {
		case delivered:
			out.Outcome = store.AttemptDelivered
		case final:
			out.Outcome, out.Error = store.AttemptFailed, err.Error()
		default:
			out.Outcome, out.Error = store.AttemptRetry, err.Error()
		}
	}
	out.At = d.now()
	if out.Outcome == store.AttemptRetry {
		switch {
		case ctx.Err() != nil:
			// Shutting down: another replica takes it over at once.
			out.NextAttemptAt, out.Error = out.At, "cut by this replica's shutdown: "+out.Error
		case j.Attempts > d.cfg.Retries:
			out.Outcome, reason = store.AttemptFailed, "exhausted"
		default:
			out.NextAttemptAt = out.At.Add(d.backoff(j.Attempts, retryAfter))
			if !out.NextAttemptAt.Before(j.CreatedAt.Add(d.cfg.DeliveryTimeout)) {
				out.Outcome, reason = store.AttemptFailed, "timeout"
			}
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
	err = d.store.RecordWebhookAttempt(rctx, out)
	cancel()
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.m.lost.Inc()
		log.Warn("webhook attempt ended after its lease passed to another claim")
		return
	case err != nil:
		log.Error("record webhook attempt (the lease runs out and the delivery is tried again)", "err", err)
		return
	}
	switch out.Outcome {
	case store.AttemptDelivered:
		d.m.delivered.Inc()
		d.m.latency.Observe(out.At.Sub(j.CreatedAt).Seconds())
		log.Debug("webhook delivered")
	case store.AttemptRetry:
		d.m.retried.Inc()
		log.Info("webhook attempt failed; will retry", "err", out.Error, "next", out.NextAttemptAt)
	case store.AttemptFailed:
		d.m.failed.WithLabelValues(reason).Inc()
		log.Warn("webhook delivery failed: given up", "reason", reason, "err", out.Error)
	}
}

// outcome of one POST.
type outcome int

const (
	delivered outcome = iota
	retryable
	final
)

// String is the outcome's metric label.
func (o outcome) String() string {
	switch o {
	case delivered:
		return "delivered"
	case retryable:
		return "retry"
	}
	return "failed"
}

// post sends one attempt. retryAfter is the receiver's Retry-After (0:
// none).
func (d *Deliverer) post(ctx context.Context, wh store.Webhook, j store.WebhookDelivery) (out outcome, reason string, retryAfter time.Duration, status int, err error) {
	ev := j.Event
	u, err := url.Parse(wh.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return final, "bad_url", 0, 0, errors.New("webhook: the webhook's url is not an absolute http(s) URL")
	}
	body, err := EncodeBody(Body{EventName: EventName(ev.Name), RoomID: string(ev.RoomID), SpaceID: string(ev.SpaceID), RecordID: ev.RecordID})
	if err != nil {
		return final, "bad_event", 0, 0, err
	}
	ts := d.now().Unix()
	actx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, u.String(), bytes.NewReader(EnvelopeOf(wh.Secret, body)))
	if err != nil {
		return final, "bad_url", 0, 0, fmt.Errorf("webhook: %w", err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Spacecast-Webhook/1")
	h.Set(HeaderEvent, ev.Name)
	h.Set(HeaderEventID, ev.ID)
	h.Set(HeaderDelivery, j.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, HeaderSign(wh.Secret, ev.ID, ts, body))
	resp, err := d.client.Do(req)
	if err != nil {
		// The error quotes the URL, whose query may hold the receiver's
		// secret (?token=...): it is logged and kept in the log, so only
		// its origin and path.
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redact(u)
		}
		if errors.Is(err, ErrForbiddenAddress) {
			return final, "forbidden_address", 0, 0, err
		}
		return retryable, "", 0, 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch code := resp.StatusCode; {
	case code/100 == 2:
		return delivered, "", 0, code, nil
	case code == http.StatusTooManyRequests || code/100 == 5:
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
			retryAfter = time.Duration(s) * time.Second
		}
		return retryable, "", retryAfter, code, fmt.Errorf("webhook: receiver answered %d", code)
	default:
		return final, "rejected", 0, code, fmt.Errorf("webhook: receiver answered %d", code)
	}
}

// backoff is the wait after attempt n (1, 2, …): RetryBackoff·2^(n-1) up
// to MaxBackoff, jittered to between half and all of it; a Retry-After
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

func randomID() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
