package apibench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/bench/load"
	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/scenario"
	"github.com/spacecast/spacecast/bench/usage"
)

// Config is the api scenario's settings (and its scenario-file format).
type Config struct {
	scenario.Common `yaml:",inline"`
	// Connections is the number of concurrent connections (and workers).
	Connections int `yaml:"connections" json:"connections"`
	// Duration is the length of each measured phase.
	Duration time.Duration `yaml:"duration" json:"duration"`
	// Warmup runs before each repeatable phase (baseline, GET, token,
	// create) without being measured: connections, caches and the heap
	// settle first.
	Warmup time.Duration `yaml:"warmup" json:"warmup"`
	// Ops are the phases to run: token, get, create, join (default all).
	Ops []string `yaml:"ops" json:"ops"`
	// SweepSteps are the offered rates of the GET sweep, as fractions of
	// the closed-loop maximum; empty disables the sweep.
	SweepSteps []float64 `yaml:"sweepSteps" json:"sweepSteps"`
	// SweepDuration is the length of each sweep step.
	SweepDuration time.Duration `yaml:"sweepDuration" json:"sweepDuration"`
	// MaxLinks caps the links generated for the join phase.
	MaxLinks int `yaml:"maxLinks" json:"maxLinks"`
	// SecondJoins is how many spent links are joined again (each must get
	// 410), and RaceLinks how many links get RaceJoiners concurrent joins
	// (exactly one must win).
	SecondJoins int `yaml:"secondJoins" json:"secondJoins"`
	RaceLinks   int `yaml:"raceLinks" json:"raceLinks"`
	RaceJoiners int `yaml:"raceJoiners" json:"raceJoiners"`
	// MetricsURL is the server's Prometheus endpoint, read for its CPU and
	// memory when it is not a local child process.
	MetricsURL string `yaml:"metricsURL" json:"metricsURL,omitempty"`
	// Replicas are further control-plane replicas (base URLs) beside
	// Target: requests are spread over them all in turn, and a request
	// that could not reach one (refused, or a kept-alive connection closed
	// before the request was read, as during a rolling restart) goes to
	// the next; see client.
	Replicas []string `yaml:"replicas" json:"replicas,omitempty"`

	// ClientSecret comes from the environment, never a file or a flag.
	ClientSecret string `yaml:"-" json:"-"`
	// ServerPIDs are the local control-plane processes, when known.
	ServerPIDs []int `yaml:"-" json:"-"`
	// DatabasePID is the local PostgreSQL server, when known: its CPU and
	// memory are sampled with its backends'.
	DatabasePID   int  `yaml:"-" json:"-"`
	SelfContained bool `yaml:"-" json:"selfContained"`
	// Store names the store of a self-contained run (sqlite, postgres).
	Store string `yaml:"-" json:"store,omitempty"`
	// Baseline starts the bare handler the GET is compared with and
	// returns its URL and how to stop it; nil runs it in this process (it
	// then shares the generator's CPU, which flatters the ratio: `spacecast
	// bench api` runs it as a child process).
	Baseline func(ctx context.Context) (url string, stop func(), err error) `yaml:"-" json:"-"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Common:        scenario.Common{Scenario: "api"},
		Connections:   32,
		Duration:      5 * time.Second,
		Warmup:        time.Second,
		Ops:           []string{"token", "get", "create", "join"},
		SweepSteps:    []float64{0.1, 0.25, 0.5, 0.75, 0.9, 1.0},
		SweepDuration: 3 * time.Second,
		MaxLinks:      200_000,
		SecondJoins:   200,
		RaceLinks:     20,
		RaceJoiners:   8,
	}
}

// Validate checks the settings.
func (c Config) Validate() error {
	var errs []error
	if c.Target == "" {
		errs = append(errs, errors.New("target: required"))
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		errs = append(errs, errors.New("client id and secret (SPACECAST_BENCH_CLIENT_SECRET) are required"))
	}
	if c.Connections < 1 || c.Connections > 10_000 {
		errs = append(errs, errors.New("connections: 1 to 10000"))
	}
	if c.Duration <= 0 {
		errs = append(errs, errors.New("duration: must be positive"))
	}
	if c.Warmup < 0 {
		errs = append(errs, errors.New("warmup: must not be negative"))
	}
	for _, op := range c.Ops {
		if !slices.Contains([]string{"token", "get", "create", "join"}, op) {
			errs = append(errs, fmt.Errorf("ops: unknown %q (token, get, create, join)", op))
		}
	}
	for _, s := range c.SweepSteps {
		if s <= 0 || s > 5 {
			errs = append(errs, fmt.Errorf("sweepSteps: %g is not in (0, 5]", s))
		}
	}
	if len(c.SweepSteps) > 0 && c.SweepDuration <= 0 {
		errs = append(errs, errors.New("sweepDuration: must be positive"))
	}
	if c.MaxLinks < 1 || c.SecondJoins < 0 || c.RaceLinks < 0 || c.RaceJoiners < 0 {
		errs = append(errs, errors.New("maxLinks >= 1, secondJoins, raceLinks, raceJoiners >= 0"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("apibench: %w", err)
	}
	return nil
}

// targets are Target and Replicas.
func (c Config) targets() []string { return append([]string{c.Target}, c.Replicas...) }

// Bench is one run of the api scenario.
type Bench struct {
	cfg Config
	api *client

	// Set up once.
	clientToken string
	userToken   string
	spaceID     string
	roomID      string
	alias       string
}

// New validates cfg.
func New(cfg Config) (*Bench, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := newClient(cfg.targets(), cfg.Connections)
	if err != nil {
		return nil, err
	}
	return &Bench{cfg: cfg, api: c}, nil
}

func (b *Bench) has(op string) bool { return slices.Contains(b.cfg.Ops, op) }

// Run runs every phase and returns the result.
func (b *Bench) Run(ctx context.Context, p *progress.Printer) (*result.Result, error) {
	start := time.Now()
	r := result.New("api", b.cfg.Target, start)
	r.Meta.SelfContained = b.cfg.SelfContained
	r.Config = b.cfg
	sources := []usage.Source{usage.Self()}
	switch {
	case len(b.cfg.ServerPIDs) == 1:
		sources = append(sources, usage.Proc("controlplane", b.cfg.ServerPIDs[0]))
	case len(b.cfg.ServerPIDs) > 1:
		for i, pid := range b.cfg.ServerPIDs {
			sources = append(sources, usage.Proc(fmt.Sprintf("controlplane-%d", i+1), pid))
		}
	case b.cfg.MetricsURL != "":
		sources = append(sources, usage.Prometheus("controlplane", b.cfg.MetricsURL, nil))
	}
	if b.cfg.DatabasePID > 0 {
		sources = append(sources, usage.ProcTree("postgres", b.cfg.DatabasePID))
	}
	sampler := usage.NewSampler(time.Second, start, sources...)
	sctx, stopSampler := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Add(1)
	go func() { defer swg.Done(); _ = sampler.Run(sctx) }()
	defer func() { stopSampler(); swg.Wait() }()

	p.Printf("api bench against %s: %d connections, %s per phase", strings.Join(b.cfg.targets(), " and "), b.cfg.Connections, b.cfg.Duration)
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	phase := func(name string, o load.Options, op load.Op) load.Stats {
		if o.Rate == 0 && o.MaxOps == 0 && o.Duration > 0 && b.cfg.Warmup > 0 && name != "join" {
			p.Update("%-15s warming up for %s", name, b.cfg.Warmup)
			load.Run(ctx, load.Options{Workers: o.Workers, Duration: b.cfg.Warmup}, op)
		}
		o.Tick = func(ops, errs uint64, el time.Duration) {
			p.Update("%-15s %6.1fs  %8d ok  %6d errors  %8.0f/s", name, el.Seconds(), ops, errs, float64(ops)/el.Seconds())
		}
		st := load.Run(ctx, o, op)
		p.Printf("%-15s %8.0f/s  p50 %.2f ms  p99 %.2f ms  (%d ok, %d errors)", name, st.RPS(), ms(st.Hist.Quantile(0.5)), ms(st.Hist.Quantile(0.99)), st.Ops, st.Errors)
		return st
	}
	closed := load.Options{Workers: b.cfg.Connections, Duration: b.cfg.Duration}

	// The machine's limit: a bare handler under the same load, in a process
	// of its own like the control plane (Config.Baseline).
	startBase, where := b.cfg.Baseline, "a child process"
	if startBase == nil {
		startBase, where = inProcessBaseline, "the bench process (its CPU shared with the generator's)"
	}
	baseURL, stopBase, err := startBase(ctx)
	if err != nil {
		return nil, err
	}
	defer stopBase()
	baseClient, err := newClient([]string{baseURL}, b.cfg.Connections)
	if err != nil {
		return nil, err
	}
	defer baseClient.close()
	defer b.api.close()
	bst := phase("baseline GET", closed, func(ctx context.Context, _ int) error {
		return expect(baseClient.do(ctx, "GET", "/v1/spaces/x/rooms/y", b.userToken, nil, nil))
	})
	record(r, "baseline", "bare fasthttp handler answering a fixed 200, in "+where, bst)

	var getMax, getFrom, getTo float64
	if b.has("get") {
		path := "/v1/spaces/" + b.spaceID + "/rooms/" + b.roomID
		get := func(ctx context.Context, _ int) error {
			return expect(b.api.do(ctx, "GET", path, b.userToken, nil, nil))
		}
		st := phase("GET room", closed, get)
		record(r, "get", "authenticated GET of a room", st)
		getFrom, getTo = st.Start.Sub(start).Seconds(), st.Start.Add(st.Elapsed).Sub(start).Seconds()
		getMax = st.RPS()
		if bst.RPS() > 0 {
			r.Add("get_baseline_ratio", result.UnitRatio, getMax/bst.RPS(), "GET room req/s over the bare handler's req/s (target >= 0.6)")
		}
		if len(b.cfg.SweepSteps) > 0 && getMax > 0 {
			b.sweep(ctx, r, p, getMax, get)
		}
	}
	if b.has("token") {
		body := mustJSON(map[string]string{"grant_type": "client_credentials", "client_id": b.cfg.ClientID, "client_secret": b.cfg.ClientSecret})
		st := phase("token issue", closed, func(ctx context.Context, _ int) error {
			return expect(b.api.do(ctx, "POST", "/v1/auth/token", "", body, nil))
		})
		record(r, "token", "POST /v1/auth/token, client_credentials", st)
		if n := st.Kinds["HTTP 429"]; n > 0 {
			r.Warn("token issue: %d requests answered 429 (the server's rate limit on /v1/auth/token); token_rps counts issued tokens only", n)
		}
	}
	if b.has("create") {
		path := "/v1/spaces/" + b.spaceID + "/rooms"
		var n atomic.Int64
		st := phase("room create", closed, func(ctx context.Context, _ int) error {
			body := mustJSON(map[string]any{"name": fmt.Sprintf("bench room %d", n.Add(1)), "isPublic": false, "type": "lesson"})
			return created(b.api.do(ctx, "POST", path, b.userToken, body, nil))
		})
		record(r, "room_create", "POST a room", st)
	}
	if b.has("join") {
		if err := b.joins(ctx, r, phase); err != nil {
			return nil, err
		}
	}
	if n := b.api.failover.Load(); n > 0 {
		r.Add("failovers", result.UnitCount, float64(n), "requests that could not reach a replica (restarting) and went to the next")
	}
	stopSampler()
	swg.Wait()
	rep := sampler.Report()
	// Whether the generator limited the run is judged on the GET phase:
	// during the baseline the bench process also serves the bare handler.
	rep.Window.From, rep.Window.To = getFrom, getTo
	rep.Fill(r)
	r.Meta.DurationSec = time.Since(start).Seconds()
	return r, nil
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// record adds a phase's throughput, latency, errors and per-second series.
func record(r *result.Result, name, help string, st load.Stats) {
	r.Add(name+"_rps", result.UnitPerSec, st.RPS(), help+": successful requests per second")
	r.Add(name+"_errors", result.UnitCount, float64(st.Errors), help+": failed requests")
	r.AddLatency(name, st.Hist)
	if len(st.PerSecond) > 0 {
		off := st.Start.Sub(r.Meta.Start).Seconds()
		pts := make([]result.Point, len(st.PerSecond))
		for i, p := range st.PerSecond {
			pts[i] = result.Point{T: p.T + off, V: p.V}
		}
		r.Series = append(r.Series, result.Series{Name: name + " req/s", Unit: result.UnitPerSec, Points: pts})
	}
	for k, v := range st.Kinds {
		r.Warn("%s: %d requests failed with %s", name, v, k)
	}
}

// setup makes the client token, a user and its token, a space and a room.
func (b *Bench) setup(ctx context.Context) error {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	body := mustJSON(map[string]string{"grant_type": "client_credentials", "client_id": b.cfg.ClientID, "client_secret": b.cfg.ClientSecret})
	if err := expect(b.api.do(ctx, "POST", "/v1/auth/token", "", body, &tok)); err != nil {
		return fmt.Errorf("apibench: client token: %w", err)
	}
	b.clientToken = tok.AccessToken
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	email := "bench-" + hex.EncodeToString(suffix) + "@bench.invalid"
	password := "bench-" + hex.EncodeToString(suffix) + "-password"
	if err := created(b.api.do(ctx, "POST", "/v1/users", b.clientToken, mustJSON(map[string]string{"email": email, "password": password, "username": "bench"}), nil)); err != nil {
		return fmt.Errorf("apibench: create user: %w", err)
	}
	body = mustJSON(map[string]string{"grant_type": "password", "client_id": b.cfg.ClientID, "client_secret": b.cfg.ClientSecret, "username": email, "password": password})
	if err := expect(b.api.do(ctx, "POST", "/v1/auth/token", b.clientToken, body, &tok)); err != nil {
		return fmt.Errorf("apibench: user token: %w", err)
	}
	b.userToken = tok.AccessToken
	var id struct {
		ID    string `json:"id"`
		Alias string `json:"alias"`
	}
	if err := created(b.api.do(ctx, "POST", "/v1/spaces", b.userToken, mustJSON(map[string]any{"name": "bench", "isPublic": false}), &id)); err != nil {
		return fmt.Errorf("apibench: create space: %w", err)
	}
	b.spaceID = id.ID
	if err := created(b.api.do(ctx, "POST", "/v1/spaces/"+b.spaceID+"/rooms", b.userToken, mustJSON(map[string]any{"name": "bench", "isPublic": false, "type": "lesson"}), &id)); err != nil {
		return fmt.Errorf("apibench: create room: %w", err)
	}
	b.roomID, b.alias = id.ID, id.Alias
	return nil
}

// created accepts 200 or 201.
func created(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 200 && code != 201 {
		return &load.StatusError{Code: code}
	}
	return nil
}

// baseline is the bare fasthttp handler.
type baseline struct {
	url  string
	srv  *fasthttp.Server
	done chan error
}

// inProcessBaseline serves the bare handler in this process.
func inProcessBaseline(context.Context) (string, func(), error) {
	b, err := listenBaseline("127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	return b.url, b.close, nil
}

// ServeBaseline serves the bare handler on addr until ctx ends (to load it
// with another tool, such as wrk, beside the control plane); ready gets
// its URL.
func ServeBaseline(ctx context.Context, addr string, ready func(url string)) error {
	b, err := listenBaseline(addr)
	if err != nil {
		return err
	}
	ready(b.url)
	select {
	case <-ctx.Done():
		b.close()
		return nil
	case err := <-b.done:
		return err
	}
}

func listenBaseline(addr string) (*baseline, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("apibench: baseline: %w", err)
	}
	body := []byte(`{"id":"x","name":"bench"}`)
	b := &baseline{url: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	b.srv = &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		c.SetContentType("application/json")
		c.SetBody(body)
	}}
	go func() { b.done <- b.srv.Serve(ln) }()
	return b, nil
}

func (b *baseline) close() {
	_ = b.srv.Shutdown()
	<-b.done
}
