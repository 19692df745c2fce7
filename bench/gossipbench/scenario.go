package gossipbench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/usage"
	"github.com/spacecast/spacecast/gossip"
)

// TargetPrefix starts a running cluster's seeds in Common.Target:
// gossip:host:port[,host:port...].
const TargetPrefix = "gossip:"

// ErrTarget marks a target the scenario does not know.
var ErrTarget = errors.New("gossipbench: bad target")

// seeds parses Target: nil for a self-contained run.
func (c Config) seeds() ([]string, error) {
	if c.Target == "" {
		return nil, nil
	}
	if !strings.HasPrefix(c.Target, TargetPrefix) {
		return nil, fmt.Errorf("%w: %q: want gossip:host:port[,host:port...] or nothing (self-contained)", ErrTarget, c.Target)
	}
	var out []string
	for _, f := range strings.Split(strings.TrimPrefix(c.Target, TargetPrefix), ",") {
		f = strings.TrimPrefix(strings.TrimSpace(f), TargetPrefix)
		if h, p, err := net.SplitHostPort(f); err != nil || h == "" || p == "" {
			return nil, fmt.Errorf("%w: seed %q: want host:port", ErrTarget, f)
		}
		out = append(out, f)
	}
	return out, nil
}

// Validate checks the settings.
func (c Config) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	seeds, err := c.seeds()
	if err != nil {
		errs = append(errs, err)
	}
	if _, err := gossip.ProfileTiming(c.Profile); err != nil {
		errs = append(errs, err)
	}
	if c.Idle <= 0 || c.Timeout <= 0 {
		bad("idle and timeout: must be positive")
	}
	if seeds == nil && err == nil {
		if len(c.Sizes) == 0 || slices.ContainsFunc(c.Sizes, func(n int) bool { return n < 2 || n > 5000 }) {
			bad("sizes: at least one, each 2 to 5000")
		}
		if c.Joins < 1 || c.Kills < 0 {
			bad("joins: at least 1; kills: not negative")
		}
	}
	if seeds != nil {
		if c.Probes < 0 || c.Probes > 100 {
			bad("probes: 0 to 100")
		}
		if c.Settle <= 0 {
			bad("settle: must be positive")
		}
		if c.Bind != "" {
			if _, _, err := net.SplitHostPort(c.Bind); err != nil {
				bad("bind: %v", err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gossipbench: %w", err)
	}
	return nil
}

// Bench is one run of the gossip scenario (a harness.Scenario).
type Bench struct {
	cfg   Config
	seeds []string
}

// New validates cfg.
func New(cfg Config) (*Bench, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seeds, _ := cfg.seeds()
	return &Bench{cfg: cfg, seeds: seeds}, nil
}

// Run measures, self-contained or against the running cluster.
func (b *Bench) Run(ctx context.Context, p *progress.Printer) (*result.Result, error) {
	start := time.Now()
	target := b.cfg.Target
	if target == "" {
		target = "in-process clusters on 127.0.0.1"
	}
	r := result.New("gossip", target, start)
	r.Meta.SelfContained = b.seeds == nil
	r.Config = b.cfg
	// Self-contained, the nodes under test are this process; against a
	// cluster, this process is the observer and the probes.
	src := usage.SelfServer("gossip nodes (in-process)")
	if b.seeds != nil {
		src = usage.Self()
	}
	sampler := usage.NewSampler(time.Second, start, src)
	sctx, stopSampler := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Go(func() { _ = sampler.Run(sctx) })
	defer func() { stopSampler(); swg.Wait() }()

	var err error
	if b.seeds == nil {
		err = b.selfContained(ctx, p, r)
	} else {
		err = b.observe(ctx, p, r)
	}
	if err != nil {
		return nil, err
	}
	stopSampler()
	swg.Wait()
	sampler.Report().Fill(r)
	if b.seeds == nil {
		r.Resources.Generator.Name = "generator (none: the nodes under test run in the bench process)"
	}
	r.Meta.DurationSec = time.Since(start).Seconds()
	return r, nil
}

// selfContained measures in-process clusters of every size and fills r.
func (b *Bench) selfContained(ctx context.Context, p *progress.Printer, r *result.Result) error {
	p.Printf("gossip bench: in-process clusters of %v nodes, profile %s, %d joins and %d crashes each", b.cfg.Sizes, b.cfg.Profile, b.cfg.Joins, b.cfg.Kills)
	rep, err := Measure(ctx, b.cfg, p.Printf)
	if err != nil {
		if len(rep.Rows) == 0 || ctx.Err() != nil {
			return err
		}
		// Keep the sizes measured before the one that failed: the run
		// fails on the check, with its outputs written.
		r.AddCheck(fmt.Sprintf("every size measured (%d of %d)", len(rep.Rows), len(b.cfg.Sizes)), false, err.Error())
		r.Warn("%v", err)
	}
	var tbl strings.Builder
	if err := Table(&tbl, rep); err == nil {
		p.Printf("\n%s", strings.TrimRight(tbl.String(), "\n"))
	}
	fillRows(r, rep.Rows)
	return nil
}

// fillRows adds the per-size measurements: latency distributions and
// metrics named with _n<N>, the worst over sizes, a table, and the plots
// against N.
func fillRows(r *result.Result, rows []Row) {
	var joinWorst, detectWorst, idleWorst float64
	var falseF, missed int
	var missedWhat []string
	times := result.Plot{Name: "join convergence and failure detection against N", XLabel: "nodes (N)", Unit: result.UnitMs, LogX: true}
	bytes := result.Plot{Name: "idle gossip traffic per node against N", XLabel: "nodes (N)", Unit: result.UnitBytesPerSec, LogX: true}
	add := func(p *result.Plot, name string, x, y float64) {
		i := slices.IndexFunc(p.Lines, func(l result.PlotLine) bool { return l.Name == name })
		if i < 0 {
			p.Lines = append(p.Lines, result.PlotLine{Name: name})
			i = len(p.Lines) - 1
		}
		p.Lines[i].Points = append(p.Lines[i].Points, result.XY{X: x, Y: y})
	}
	tbl := result.Table{Name: "per cluster size", Label: "N", Columns: []string{"form ms", "join p50 ms", "join p99 ms",
		"join p99 per member ms", "detect first p50 ms", "detect all p50 ms", "detect all p99 ms", "idle B/s per node", "idle max B/s", "false failures", "missed"}}
	for _, row := range rows {
		n := strconv.Itoa(row.N)
		for _, l := range []struct {
			name string
			vs   []float64
		}{{"join_n" + n, row.joinAll}, {"detect_n" + n, row.detectAll}, {"detect_first_n" + n, row.detectFirst}} {
			if len(l.vs) > 0 {
				r.AddLatency(l.name, histOf(l.vs))
			}
		}
		r.Add("form_n"+n, result.UnitMs, row.FormMs, fmt.Sprintf("N=%d: time for the nodes to all see each other, started in waves of %d", row.N, formWave))
		r.Add("idle_bytes_per_node_n"+n, result.UnitBytesPerSec, row.IdleBytesPerSec, fmt.Sprintf("N=%d: bytes sent per node per second while nothing changes (mean)", row.N))
		r.Add("idle_max_bytes_per_node_n"+n, result.UnitBytesPerSec, row.IdleMaxBytesPerSec, fmt.Sprintf("N=%d: the busiest node's idle bytes per second", row.N))
		r.Add("false_failures_n"+n, result.UnitCount, float64(row.FalseFailures), fmt.Sprintf("N=%d: live nodes declared dead", row.N))
		joinWorst, detectWorst = max(joinWorst, row.JoinP99Ms), max(detectWorst, row.DetectAllP99Ms)
		idleWorst = max(idleWorst, row.IdleBytesPerSec)
		falseF += row.FalseFailures
		missed += row.Missed
		missedWhat = append(missedWhat, row.MissedWhat...)
		x := float64(row.N)
		add(&times, "join p50", x, row.JoinP50Ms)
		add(&times, "join p99", x, row.JoinP99Ms)
		if row.DetectAllP50Ms > 0 {
			add(&times, "detect first p50", x, row.DetectFirstP50Ms)
			add(&times, "detect all p50", x, row.DetectAllP50Ms)
			add(&times, "detect all p99", x, row.DetectAllP99Ms)
		}
		add(&bytes, "idle mean", x, row.IdleBytesPerSec)
		add(&bytes, "idle max", x, row.IdleMaxBytesPerSec)
		tbl.Rows = append(tbl.Rows, result.TableRow{Label: n, Values: []float64{row.FormMs, row.JoinP50Ms, row.JoinP99Ms,
			row.JoinObserverP99Ms, row.DetectFirstP50Ms, row.DetectAllP50Ms, row.DetectAllP99Ms, row.IdleBytesPerSec,
			row.IdleMaxBytesPerSec, float64(row.FalseFailures), float64(row.Missed)}})
	}
	r.Add("join_p99_worst", result.UnitMs, joinWorst, "the largest join-convergence p99 over the sizes (a join seen by every member)")
	r.Add("detect_p99_worst", result.UnitMs, detectWorst, "the largest failure-detection p99 over the sizes (a crash seen by every member)")
	r.Add("idle_bytes_per_node_worst", result.UnitBytesPerSec, idleWorst, "the largest mean idle bytes/s per node over the sizes")
	r.Add("false_failures", result.UnitCount, float64(falseF), "live nodes declared dead, over every size")
	r.Add("missed", result.UnitCount, float64(missed), "joins or crashes not seen by every member within the timeout")
	r.AddCheck("every join and crash seen everywhere", missed == 0,
		strings.Join(append([]string{fmt.Sprintf("%d missed within the timeout", missed)}, missedWhat...), "; "))
	r.Tables = append(r.Tables, tbl)
	r.Plots = append(r.Plots, times, bytes)
}

// histOf records millisecond samples.
func histOf(ms []float64) *hist.Histogram {
	h := hist.New()
	for _, v := range ms {
		h.RecordDuration(time.Duration(v * float64(time.Millisecond)))
	}
	return h
}
