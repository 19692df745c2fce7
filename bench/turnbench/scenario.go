package turnbench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/scenario"
	"github.com/spacecast/spacecast/bench/usage"
	"github.com/spacecast/spacecast/internal/turncred"
)

// Config is the turn scenario's settings (and its scenario-file format).
// Common.Target says what is measured, comma-separated: "ours" (this
// binary's `spacecast turn`, started as a child process), "coturn"
// (coturn's turnserver, started the same way) or "turn:host:port" (a
// running server; its shared secret comes from the environment).
type Config struct {
	scenario.Common `yaml:",inline"`
	// Repeat runs the targets this many times, alternating, and reports
	// medians (the machine's noise shows in the spread).
	Repeat int `yaml:"repeat" json:"repeat"`
	// Allocations each relay both ways through one channel.
	Allocations int `yaml:"allocations" json:"allocations"`
	// Payload is the bytes per packet.
	Payload int `yaml:"payload" json:"payloadBytes"`
	// Rates are the offered packets/s (both directions together), one
	// step each; the run stops early after two saturated steps.
	Rates []int `yaml:"rates" json:"rates"`
	// Step is the length of each step.
	Step time.Duration `yaml:"step" json:"step"`
	// UDPSockets is ours' SO_REUSEPORT socket count (0: GOMAXPROCS).
	UDPSockets int `yaml:"udpSockets" json:"udpSockets,omitempty"`
	// Turnserver is coturn's binary.
	Turnserver string `yaml:"turnserver" json:"turnserver,omitempty"`
	// ServerPID (a local process) or MetricsURL (its Prometheus endpoint)
	// say where a running server's CPU is read.
	ServerPID  int    `yaml:"serverPid" json:"serverPid,omitempty"`
	MetricsURL string `yaml:"metricsURL" json:"metricsURL,omitempty"`
	// PeerIP is the address the peer sockets bind, which the server's
	// relay sends to (its relay policy must allow it); empty: this
	// machine's address toward the server.
	PeerIP string `yaml:"peerIP" json:"peerIP,omitempty"`

	// Secret is the TURN shared secret: from the environment, never a
	// file or a flag. Empty for a self-contained run: one is made up.
	Secret string `yaml:"-" json:"-"`
	// Exe is the spacecast binary that runs "ours".
	Exe string `yaml:"-" json:"-"`
	// ServerStderr receives the started servers' stderr (nil: discarded).
	ServerStderr io.Writer `yaml:"-" json:"-"`
}

// DefaultConfig is `spacecast bench turn` without flags.
func DefaultConfig() Config {
	return Config{
		Common:      scenario.Common{Scenario: "turn", Target: TargetOurs},
		Repeat:      1,
		Allocations: 200,
		Payload:     200,
		Rates:       []int{10000, 20000, 40000, 60000, 80000, 100000, 130000, 160000, 200000},
		Step:        3 * time.Second,
		Turnserver:  "turnserver",
	}
}

// Targets of a run.
const (
	TargetOurs   = "ours"
	TargetCoturn = "coturn"
	// TargetRemotePrefix starts a running server's address: turn:host:port.
	TargetRemotePrefix = "turn:"
)

// target is one server to measure.
type target struct {
	kind  string // TargetOurs, TargetCoturn or "remote"
	addr  string // remote: host:port
	label string // in metric names and charts
}

// ErrTarget marks a --target the scenario does not know.
var ErrTarget = errors.New("turnbench: bad target")

func parseTargets(s string) ([]target, error) {
	var out []target
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		var t target
		switch {
		case f == TargetOurs || f == TargetCoturn:
			t = target{kind: f, label: f}
		case strings.HasPrefix(f, TargetRemotePrefix):
			addr := strings.TrimPrefix(f, TargetRemotePrefix)
			if _, _, err := net.SplitHostPort(addr); err != nil {
				addr = net.JoinHostPort(addr, "3478")
			}
			if h, p, err := net.SplitHostPort(addr); err != nil || h == "" || p == "" {
				return nil, fmt.Errorf("%w: %q: want turn:host:port", ErrTarget, f)
			}
			t = target{kind: "remote", addr: addr, label: "remote"}
		default:
			return nil, fmt.Errorf("%w: %q (ours, coturn or turn:host:port, comma-separated)", ErrTarget, f)
		}
		if seen[t.label] {
			return nil, fmt.Errorf("%w: %q given twice", ErrTarget, t.label)
		}
		seen[t.label] = true
		out = append(out, t)
	}
	return out, nil
}

// Validate checks the settings.
func (c Config) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	ts, err := parseTargets(c.Target)
	if err != nil {
		errs = append(errs, err)
	}
	for _, t := range ts {
		if t.kind == "remote" && c.Secret == "" {
			bad("target %s needs the server's shared secret in SPACECAST_TURN_SECRETS", t.addr)
		}
	}
	if c.Repeat < 1 || c.Repeat > 100 {
		bad("repeat: 1 to 100")
	}
	if c.Allocations < 1 || c.Allocations > 100_000 {
		bad("allocations: 1 to 100000")
	}
	if c.Payload < 1 || c.Payload > 1400 {
		bad("payload: 1 to 1400 bytes")
	}
	if len(c.Rates) == 0 || slices.ContainsFunc(c.Rates, func(r int) bool { return r <= 0 }) {
		bad("rates: at least one, each positive")
	}
	if c.Step <= 0 {
		bad("step: must be positive")
	}
	if c.ServerPID < 0 {
		bad("serverPid: must not be negative")
	}
	if c.PeerIP != "" {
		if _, err := netip.ParseAddr(c.PeerIP); err != nil {
			bad("peerIP: %v", err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("turnbench: %w", err)
	}
	return nil
}

// Bench is one run of the turn scenario (a harness.Scenario).
type Bench struct {
	cfg     Config
	targets []target
}

// New validates cfg; a self-contained run without a secret gets a random
// one.
func New(cfg Config) (*Bench, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ts, _ := parseTargets(cfg.Target)
	if cfg.Secret == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		cfg.Secret = hex.EncodeToString(b)
	}
	if cfg.ServerStderr == nil {
		cfg.ServerStderr = io.Discard
	}
	return &Bench{cfg: cfg, targets: ts}, nil
}

// run is one measurement of one target.
type run struct {
	t   target
	n   int // repetition, from 1
	res Result
}

// Run measures every target, Repeat times, and returns the result.
func (b *Bench) Run(ctx context.Context, p *progress.Printer) (*result.Result, error) {
	start := time.Now()
	r := result.New("turn", b.cfg.Target, start)
	r.Meta.SelfContained = !slices.ContainsFunc(b.targets, func(t target) bool { return t.kind == "remote" })
	r.Config = b.cfg
	server := &switchable{name: "turn server"}
	sources := []usage.Source{usage.Self()}
	if slices.ContainsFunc(b.targets, func(t target) bool { return t.kind != "remote" }) || b.cfg.ServerPID > 0 || b.cfg.MetricsURL != "" {
		sources = append(sources, server) // a server whose CPU can be read
	}
	sampler := usage.NewSampler(time.Second, start, sources...)
	sctx, stopSampler := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Go(func() { _ = sampler.Run(sctx) })
	defer func() { stopSampler(); swg.Wait() }()

	p.Printf("turn bench: %s, %d allocations, %d-byte payloads, %d steps of %s", b.cfg.Target, b.cfg.Allocations, b.cfg.Payload, len(b.cfg.Rates), b.cfg.Step)
	var runs []run
	for i := range b.cfg.Repeat {
		for _, t := range b.targets {
			res, err := b.once(ctx, p, t, i+1, server)
			if err != nil {
				return nil, fmt.Errorf("turnbench: %s: %w", t.label, err)
			}
			runs = append(runs, run{t: t, n: i + 1, res: res})
		}
	}
	stopSampler()
	swg.Wait()
	sampler.Report().Fill(r)
	b.fill(r, runs)
	r.Meta.DurationSec = time.Since(start).Seconds()
	return r, nil
}

// once starts t (unless it is remote), measures it and stops it.
func (b *Bench) once(ctx context.Context, p *progress.Printer, t target, n int, server *switchable) (Result, error) {
	label := t.label
	if b.cfg.Repeat > 1 {
		label = fmt.Sprintf("%s #%d", t.label, n)
	}
	o := Options{
		Allocations: b.cfg.Allocations, Payload: b.cfg.Payload, Rates: b.cfg.Rates, Step: b.cfg.Step,
		Label: label, Progress: p,
	}
	if b.cfg.PeerIP != "" {
		o.PeerIP, _ = netip.ParseAddr(b.cfg.PeerIP) // checked by Validate
	}
	// One identity per allocation, as real clients have: a server's
	// per-user quota (10 allocations by default) does not cap the run.
	tag := make([]byte, 4)
	_, _ = rand.Read(tag)
	expiry := time.Now().Add(time.Hour)
	o.Credential = func(i int) (string, string) {
		return turncred.Mint(b.cfg.Secret, fmt.Sprintf("bench-%x-%d", tag, i), expiry)
	}
	switch t.kind {
	case "remote":
		o.Server = t.addr
		switch {
		case b.cfg.ServerPID > 0:
			o.ServerCPU = usage.Proc("turn", b.cfg.ServerPID)
		case b.cfg.MetricsURL != "":
			o.ServerCPU = usage.Prometheus("turn", b.cfg.MetricsURL, nil)
		}
	default:
		var proc *Process
		var err error
		if t.kind == TargetOurs {
			exe := b.cfg.Exe
			if exe == "" {
				if exe, err = os.Executable(); err != nil {
					return Result{}, err
				}
			}
			proc, err = SpawnOurs(ctx, exe, b.cfg.Secret, b.cfg.UDPSockets, b.cfg.ServerStderr)
		} else {
			proc, err = SpawnCoturn(ctx, b.cfg.Turnserver, b.cfg.Secret, b.cfg.ServerStderr)
		}
		if err != nil {
			return Result{}, fmt.Errorf("start: %w", err)
		}
		defer proc.Stop()
		o.Server, o.ServerCPU = proc.Addr, usage.Proc("turn "+t.label, proc.PID)
		p.Printf("%s: started pid %d on %s", label, proc.PID, proc.Addr)
	}
	if o.ServerCPU != nil {
		server.use(o.ServerCPU)
		defer server.use(nil)
	}
	res, err := Measure(ctx, o)
	res.Target = t.label
	return res, err
}

// fill adds the measurements of runs to r: per target (medians over its
// runs) the saturation, CPU per packet, loss and allocation latency; the
// throughput sweep and CPU plots; every step in a table; with several
// targets, their ratios and a side-by-side table.
func (b *Bench) fill(r *result.Result, runs []run) {
	var sums []summary
	for _, t := range b.targets {
		sums = append(sums, summarize(t, runs))
	}
	many := len(sums) > 1
	cpuPlot := result.Plot{Name: "CPU per relayed packet against offered load", XLabel: "offered packets/s", Unit: result.UnitUs}
	pctPlot := result.Plot{Name: "CPU against offered load", XLabel: "offered packets/s", Unit: result.UnitPercent}
	for i, s := range sums {
		// The first target's names carry no prefix (an SLO reads the same
		// alone or side by side); the others' are prefixed with their label.
		pre := ""
		if i > 0 {
			pre = s.t.label + "_"
		}
		s.metrics(r, pre)
		if s.alloc.Count() > 0 {
			name := "allocate"
			if i > 0 {
				name = s.t.label + "_allocate"
			}
			r.AddLatency(name, s.alloc)
		}
		sw := result.Sweep{Name: s.t.label, Group: "TURN relay"}
		srv, gen := result.PlotLine{Name: s.t.label + " server"}, result.PlotLine{Name: s.t.label + " generator"}
		srvPct, genPct := result.PlotLine{Name: s.t.label + " server"}, result.PlotLine{Name: "generator (with " + s.t.label + ")"}
		for _, st := range s.steps {
			x := float64(st.OfferedPPS)
			sw.Points = append(sw.Points, result.SweepPoint{OfferedPerSec: x, AchievedPerSec: st.DeliveredPPS, LossPercent: st.LossPercent})
			if st.ServerCPUMicros > 0 {
				srv.Points = append(srv.Points, result.XY{X: x, Y: st.ServerCPUMicros})
				srvPct.Points = append(srvPct.Points, result.XY{X: x, Y: st.ServerCPUPercent})
			}
			gen.Points = append(gen.Points, result.XY{X: x, Y: st.GeneratorCPUMicro})
			genPct.Points = append(genPct.Points, result.XY{X: x, Y: st.GeneratorCPUPercent})
		}
		r.Sweeps = append(r.Sweeps, sw)
		cpuPlot.Lines = append(cpuPlot.Lines, srv, gen)
		pctPlot.Lines = append(pctPlot.Lines, srvPct, genPct)
		if s.limited {
			r.Resources.GeneratorLimited = true
			r.Warn("%s: at its saturation step the generator could not offer the rate, kept its cores busy, or outweighed the server on a saturated machine (generator %.0f%%, server %.0f%%, machine %.0f%% CPU): the saturation figure is a lower bound for the server", s.t.label, s.sat.GeneratorCPUPercent, s.sat.ServerCPUPercent, s.sat.MachineCPUPercent)
		}
		if s.noCPU {
			r.Warn("%s: the server's CPU was not measured (give --server-pid or --metrics-url): no CPU per packet", s.t.label)
		}
	}
	r.Plots = append(r.Plots, cpuPlot, pctPlot)
	if many {
		a := sums[0]
		for _, o := range sums[1:] {
			if o.satPPS > 0 {
				r.Add(fmt.Sprintf("saturation_%s_over_%s", a.t.label, o.t.label), result.UnitRatio, a.satPPS/o.satPPS,
					fmt.Sprintf("saturation packets/s of %s over %s's", a.t.label, o.t.label))
			}
			if o.cpuUs > 0 && a.cpuUs > 0 {
				r.Add(fmt.Sprintf("cpu_per_packet_%s_over_%s", a.t.label, o.t.label), result.UnitRatio, a.cpuUs/o.cpuUs,
					fmt.Sprintf("server CPU per relayed packet of %s over %s's (below 1: %s is cheaper)", a.t.label, o.t.label, a.t.label))
			}
			r.Tables = append(r.Tables, sideBySide(a, o))
		}
	}
	r.Tables = append(r.Tables, stepsTable(runs))
}

// summary is one target's medians over its runs.
type summary struct {
	t       target
	runs    int
	satPPS  float64
	cpuUs   float64
	steps   []Step // medians per offered rate
	sat     Step   // the saturation step of the median run
	limited bool   // a run's saturation step was generator-limited
	noCPU   bool
	alloc   *hist.Histogram
}

func summarize(t target, runs []run) summary {
	s := summary{t: t, alloc: hist.New()}
	var sat, cpu []float64
	byRate := map[int][]Step{}
	var rates []int
	var sats []Step
	for _, rn := range runs {
		if rn.t.label != t.label {
			continue
		}
		s.runs++
		sat = append(sat, rn.res.SaturationPPS)
		cpu = append(cpu, rn.res.CPUMicrosPerPacket)
		if rn.res.Allocate != nil {
			s.alloc.Merge(rn.res.Allocate)
		}
		if st, ok := rn.res.SaturationStep(); ok {
			sats = append(sats, st)
			s.limited = s.limited || st.GeneratorLimited
			s.noCPU = s.noCPU || !rn.res.ServerCPU
		}
		for _, st := range rn.res.Steps {
			if _, ok := byRate[st.OfferedPPS]; !ok {
				rates = append(rates, st.OfferedPPS)
			}
			byRate[st.OfferedPPS] = append(byRate[st.OfferedPPS], st)
		}
	}
	s.satPPS, s.cpuUs = median(sat), median(cpu)
	slices.SortFunc(sats, func(a, b Step) int { return cmp.Compare(a.DeliveredPPS, b.DeliveredPPS) })
	if len(sats) > 0 {
		s.sat = sats[len(sats)/2]
	}
	slices.Sort(rates)
	for _, rate := range rates {
		st := byRate[rate]
		pick := func(f func(Step) float64) float64 {
			v := make([]float64, len(st))
			for i, x := range st {
				v[i] = f(x)
			}
			return median(v)
		}
		s.steps = append(s.steps, Step{
			OfferedPPS:          rate,
			SentPPS:             pick(func(x Step) float64 { return x.SentPPS }),
			DeliveredPPS:        pick(func(x Step) float64 { return x.DeliveredPPS }),
			LossPercent:         pick(func(x Step) float64 { return x.LossPercent }),
			ServerCPUPercent:    pick(func(x Step) float64 { return x.ServerCPUPercent }),
			ServerCPUMicros:     pick(func(x Step) float64 { return x.ServerCPUMicros }),
			GeneratorCPUMicro:   pick(func(x Step) float64 { return x.GeneratorCPUMicro }),
			GeneratorCPUPercent: pick(func(x Step) float64 { return x.GeneratorCPUPercent }),
			MachineCPUPercent:   pick(func(x Step) float64 { return x.MachineCPUPercent }),
		})
	}
	return s
}

// metrics adds s's named numbers with prefix pre.
func (s summary) metrics(r *result.Result, pre string) {
	who := s.t.label
	r.Add(pre+"saturation_pps", result.UnitPerSec, s.satPPS, who+": most packets/s delivered at any step (median over runs)")
	r.Add(pre+"cpu_us_per_packet", result.UnitUs, s.cpuUs, who+": server CPU time per relayed packet at the saturation step")
	r.Add(pre+"generator_cpu_us_per_packet", result.UnitUs, s.sat.GeneratorCPUMicro, who+": the generator's CPU time per delivered packet at the saturation step")
	r.Add(pre+"generator_cpu_at_saturation", result.UnitPercent, s.sat.GeneratorCPUPercent, who+": the generator's CPU at the saturation step (100 per core)")
	r.Add(pre+"machine_cpu_at_saturation", result.UnitPercent, s.sat.MachineCPUPercent, who+": the whole machine's busy CPU at the saturation step (100 per core)")
	r.Add(pre+"loss_at_saturation", result.UnitPercent, s.sat.LossPercent, who+": packets sent but not delivered at the saturation step")
	if len(s.steps) > 0 {
		first := s.steps[0]
		r.Add(pre+"loss", result.UnitPercent, first.LossPercent, fmt.Sprintf("%s: packets sent but not delivered at the lightest step (%d/s offered)", who, first.OfferedPPS))
		r.Add(pre+"delivered_pps_lightest", result.UnitPerSec, first.DeliveredPPS, fmt.Sprintf("%s: packets/s delivered at the lightest step (%d/s offered)", who, first.OfferedPPS))
	}
}

// sideBySide lines up two targets' median steps by offered rate.
func sideBySide(a, b summary) result.Table {
	t := result.Table{
		Name:  fmt.Sprintf("%s and %s side by side", a.t.label, b.t.label),
		Label: "offered packets/s",
		Columns: []string{a.t.label + " delivered /s", b.t.label + " delivered /s", a.t.label + " loss %", b.t.label + " loss %",
			a.t.label + " server µs/pkt", b.t.label + " server µs/pkt", "CPU per packet ×"},
	}
	byRate := map[int]Step{}
	for _, st := range b.steps {
		byRate[st.OfferedPPS] = st
	}
	for _, x := range a.steps {
		y, ok := byRate[x.OfferedPPS]
		if !ok {
			continue
		}
		ratio := 0.0
		if y.ServerCPUMicros > 0 {
			ratio = x.ServerCPUMicros / y.ServerCPUMicros
		}
		t.Rows = append(t.Rows, result.TableRow{Label: strconv.Itoa(x.OfferedPPS), Values: []float64{
			x.DeliveredPPS, y.DeliveredPPS, x.LossPercent, y.LossPercent, x.ServerCPUMicros, y.ServerCPUMicros, ratio,
		}})
	}
	return t
}

// stepsTable has every step of every run.
func stepsTable(runs []run) result.Table {
	t := result.Table{
		Name:  "steps",
		Label: "target, run, offered /s",
		Columns: []string{"offered /s", "sent /s", "delivered /s", "loss %", "server CPU %", "server µs/pkt",
			"generator CPU %", "generator µs/pkt", "generator-limited", "machine CPU %"},
	}
	for _, rn := range runs {
		for _, st := range rn.res.Steps {
			lim := 0.0
			if st.GeneratorLimited {
				lim = 1
			}
			t.Rows = append(t.Rows, result.TableRow{
				Label: fmt.Sprintf("%s run %d, %d/s", rn.t.label, rn.n, st.OfferedPPS),
				Values: []float64{float64(st.OfferedPPS), st.SentPPS, st.DeliveredPPS, st.LossPercent, st.ServerCPUPercent,
					st.ServerCPUMicros, st.GeneratorCPUPercent, st.GeneratorCPUMicro, lim, st.MachineCPUPercent},
			})
		}
	}
	return t
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// switchable is the server under test as one usage source over a run that
// measures several servers one after the other: its CPU seconds are the
// finished servers' plus the current one's, so the series stays monotonic.
type switchable struct {
	name string

	mu   sync.Mutex
	kind string
	cur  usage.Source
	done float64 // CPU seconds of the servers measured before cur
	last float64 // cur's latest reading
	rss  float64
}

func (s *switchable) Name() string { return s.name }
func (s *switchable) Kind() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kind == "" {
		return "/proc"
	}
	return s.kind
}
func (s *switchable) Generator() bool { return false }

// use makes src the current server (nil: none until the next).
func (s *switchable) use(src usage.Source) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done += s.last
	s.last, s.rss, s.cur = 0, 0, src
	if src != nil {
		s.kind = src.Kind()
	}
}

func (s *switchable) Read(ctx context.Context) (float64, float64, error) {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	var cpu, rss float64
	var err error
	if cur != nil {
		cpu, rss, err = cur.Read(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && cur != nil && cur == s.cur {
		s.last, s.rss = cpu, rss
	}
	return s.done + s.last, s.rss, nil
}
