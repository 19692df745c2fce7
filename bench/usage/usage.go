package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"

	"github.com/spacecast/spacecast/bench/result"
)

// Source reads a process's cumulative CPU seconds and its resident memory.
type Source interface {
	Name() string
	Kind() string // "self", "/proc" or "prometheus"
	// Generator is true for processes of the load generator (their usage
	// is summed as the generator's), false for servers under test.
	Generator() bool
	Read(ctx context.Context) (cpuSeconds, rssBytes float64, err error)
}

// Self is the bench process as the load generator.
func Self() Source { return procSource{name: "generator", kind: "self", gen: true} }

// SelfServer is the bench process when it hosts the servers under test
// (a self-contained run whose load comes from agent processes).
func SelfServer(name string) Source { return procSource{name: name, kind: "self"} }

// Proc is a local server process read from /proc.
func Proc(name string, pid int) Source { return procSource{name: name, kind: "/proc", pid: pid} }

// GeneratorProc is a local process of the load generator (an agent).
func GeneratorProc(name string, pid int) Source {
	return procSource{name: name, kind: "/proc", pid: pid, gen: true}
}

type procSource struct {
	name, kind string
	pid        int
	gen        bool
}

func (p procSource) Name() string    { return p.name }
func (p procSource) Kind() string    { return p.kind }
func (p procSource) Generator() bool { return p.gen }

func (p procSource) Read(context.Context) (float64, float64, error) {
	var proc procfs.Proc
	var err error
	if p.pid == 0 {
		proc, err = procfs.Self()
	} else {
		proc, err = procfs.NewProc(p.pid)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("usage: %s: %w", p.name, err)
	}
	st, err := proc.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("usage: %s: %w", p.name, err)
	}
	return st.CPUTime(), float64(st.ResidentMemory()), nil
}

// Prometheus is a server whose metrics endpoint (a /metrics URL) exports
// the standard process collector.
func Prometheus(name, url string, client *http.Client) Source {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return promSource{name: name, url: url, client: client}
}

type promSource struct {
	name, url string
	client    *http.Client
}

func (p promSource) Name() string    { return p.name }
func (p promSource) Kind() string    { return "prometheus" }
func (p promSource) Generator() bool { return false }

// ErrNoProcessMetrics means the endpoint lacks the process collector.
var ErrNoProcessMetrics = errors.New("usage: no process_cpu_seconds_total in metrics")

func (p promSource) Read(ctx context.Context) (float64, float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("usage: %s: %w", p.name, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("usage: %s: %w", p.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("usage: %s: metrics answered %s", p.name, resp.Status)
	}
	return ParseProcessMetrics(io.LimitReader(resp.Body, 16<<20))
}

// ParseProcessMetrics reads process_cpu_seconds_total and
// process_resident_memory_bytes from Prometheus text exposition.
func ParseProcessMetrics(r io.Reader) (cpuSeconds, rssBytes float64, err error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return 0, 0, fmt.Errorf("usage: metrics: %w", err)
	}
	get := func(name string) (float64, bool) {
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) == 0 {
			return 0, false
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
		return 0, false
	}
	cpu, ok := get("process_cpu_seconds_total")
	if !ok {
		return 0, 0, ErrNoProcessMetrics
	}
	rss, _ := get("process_resident_memory_bytes")
	return cpu, rss, nil
}

// Sampler samples sources at a fixed interval while Run blocks.
type Sampler struct {
	interval time.Duration
	sources  []Source
	start    time.Time

	mu      sync.Mutex
	stats   []*stat
	machine *stat // whole-machine busy percent (of one core)
}

type stat struct {
	lastCPU  float64
	lastAt   time.Time
	has      bool
	cpu      []result.Point
	rssMax   float64
	rssLast  float64
	err      error
	cpuTotal float64
	first    time.Time
	firstCPU float64
}

// NewSampler makes a sampler; start is the run's time origin for series.
func NewSampler(interval time.Duration, start time.Time, sources ...Source) *Sampler {
	if interval <= 0 {
		interval = time.Second
	}
	s := &Sampler{interval: interval, sources: sources, start: start, machine: &stat{}}
	for range sources {
		s.stats = append(s.stats, &stat{})
	}
	return s
}

// Run samples until ctx ends, then takes a last sample.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.sample(ctx)
	for {
		select {
		case <-ctx.Done():
			s.sample(context.Background())
			return nil
		case <-t.C:
			s.sample(ctx)
		}
	}
}

func (s *Sampler) sample(ctx context.Context) {
	now := time.Now()
	type reading struct {
		cpu, rss float64
		err      error
	}
	rs := make([]reading, len(s.sources))
	for i, src := range s.sources {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		rs[i].cpu, rs[i].rss, rs[i].err = src.Read(rctx)
		cancel()
	}
	busy, busyErr := machineBusySeconds()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range rs {
		s.stats[i].add(now, s.start, r.cpu, r.rss, r.err)
	}
	s.machine.add(now, s.start, busy, 0, busyErr)
}

func (st *stat) add(now, origin time.Time, cpu, rss float64, err error) {
	if err != nil {
		st.err = err
		return
	}
	if st.has {
		dt := now.Sub(st.lastAt).Seconds()
		if dt > 0 {
			st.cpu = append(st.cpu, result.Point{T: now.Sub(origin).Seconds(), V: 100 * (cpu - st.lastCPU) / dt})
		}
	} else {
		st.first, st.firstCPU = now, cpu
	}
	st.has = true
	st.lastCPU, st.lastAt = cpu, now
	st.cpuTotal = cpu - st.firstCPU
	st.rssLast = rss
	st.rssMax = max(st.rssMax, rss)
}

func (st *stat) usage(name, kind string) result.Usage {
	u := result.Usage{Name: name, Source: kind, RSSBytes: st.rssLast, RSSMaxBytes: st.rssMax, Samples: len(st.cpu)}
	if d := st.lastAt.Sub(st.first).Seconds(); d > 0 {
		u.CPUPercent = 100 * st.cpuTotal / d
	}
	for _, p := range st.cpu {
		u.CPUPercentMax = max(u.CPUPercentMax, p.V)
	}
	return u
}

func machineBusySeconds() (float64, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return 0, err
	}
	st, err := fs.Stat()
	if err != nil {
		return 0, err
	}
	c := st.CPUTotal
	return c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal, nil
}

// Report is what the sampler saw.
type Report struct {
	Usages      []result.Usage  // one per source, in order
	Series      []result.Series // CPU percent over time, one per source
	MachineBusy float64         // mean busy percent of the machine (100 per core)
	Errors      []error         // sources that could not be read
	generator   []bool          // per usage: part of the load generator
	machine     []result.Point  // machine busy percent over time
	// Window, when set (To > 0), is the part of the run, in seconds since
	// its start, that decides whether the generator limited it: the
	// phase whose throughput matters, not set-up or a baseline.
	Window struct{ From, To float64 }
}

// Report summarises the samples so far.
func (s *Sampler) Report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rep Report
	for i, src := range s.sources {
		st := s.stats[i]
		if !st.has {
			if st.err != nil {
				rep.Errors = append(rep.Errors, st.err)
			}
			continue
		}
		rep.Usages = append(rep.Usages, st.usage(src.Name(), src.Kind()))
		rep.generator = append(rep.generator, src.Generator())
		rep.Series = append(rep.Series, result.Series{Name: "cpu " + src.Name(), Unit: result.UnitPercent, Points: append([]result.Point(nil), st.cpu...)})
	}
	if s.machine.has {
		rep.MachineBusy = s.machine.usage("machine", "/proc").CPUPercent
		rep.machine = append([]result.Point(nil), s.machine.cpu...)
	}
	return rep
}

// Fill copies the report into r's resources and series, and decides
// whether the generator limited the run: it did when it kept its own cores
// at least 85% busy, or when the machine was saturated (at least 90% of
// every core) while the generator used more CPU than the servers together.
func (rep Report) Fill(r *result.Result) {
	var gens []result.Usage
	for i, u := range rep.Usages {
		if i < len(rep.generator) && rep.generator[i] {
			gens = append(gens, u)
		} else {
			r.Resources.Servers = append(r.Resources.Servers, u)
		}
		r.Series = append(r.Series, rep.Series[i])
	}
	r.Resources.Generator = sum(gens)
	for _, err := range rep.Errors {
		r.Warn("resource sampling: %v", err)
	}
	r.Add("machine_cpu", result.UnitPercent, rep.MachineBusy, "mean busy CPU of the whole machine (100 per core)")
	r.Add("generator_cpu", result.UnitPercent, r.Resources.Generator.CPUPercent, "mean CPU of the load generator (100 per core)")
	genCPU, servers, machine := r.Resources.Generator.CPUPercent, 0.0, rep.MachineBusy
	for _, u := range r.Resources.Servers {
		servers += u.CPUPercent
	}
	if w := rep.Window; w.To > w.From {
		genCPU, servers = 0, 0
		for i := range rep.Usages {
			m := meanIn(rep.Series[i].Points, w.From, w.To)
			if i < len(rep.generator) && rep.generator[i] {
				genCPU += m
			} else {
				servers += m
			}
		}
		machine = meanIn(rep.machine, w.From, w.To)
		r.Add("window_generator_cpu", result.UnitPercent, genCPU, fmt.Sprintf("mean CPU of the load generator from %.1f s to %.1f s (the measured phase)", w.From, w.To))
		r.Add("window_server_cpu", result.UnitPercent, servers, "mean CPU of the servers in the same window")
		r.Add("window_machine_cpu", result.UnitPercent, machine, "mean busy CPU of the machine in the same window")
	}
	gen := result.Usage{CPUPercent: genCPU}
	cores := float64(min(runtime.GOMAXPROCS(0), runtime.NumCPU()))
	rep.MachineBusy = machine
	if others := rep.MachineBusy - gen.CPUPercent - servers; rep.MachineBusy >= 80*float64(runtime.NumCPU()) && others > 50 {
		r.Warn("other processes used about %.0f%% CPU (100 per core) of this %d-core machine during the run: the figures are depressed by them", others, runtime.NumCPU())
	}
	switch {
	case gen.CPUPercent >= 85*cores:
		r.Resources.GeneratorLimited = true
		r.Warn("the load generator kept its %g cores %.0f%% busy: it limited this run, the numbers are a lower bound", cores, gen.CPUPercent/cores)
	case rep.MachineBusy >= 90*float64(runtime.NumCPU()) && gen.CPUPercent > servers:
		r.Resources.GeneratorLimited = true
		r.Warn("the machine was saturated (%.0f%% of %d cores) and the generator used more CPU (%.0f%%) than the servers (%.0f%%): run the generator on another machine for the servers' true limit", rep.MachineBusy/float64(runtime.NumCPU()), runtime.NumCPU(), gen.CPUPercent, servers)
	}
}

// sum adds up the generator's processes into one usage.
func sum(us []result.Usage) result.Usage {
	if len(us) == 1 {
		return us[0]
	}
	out := result.Usage{Name: fmt.Sprintf("generator (%d processes)", len(us)), Source: "/proc"}
	for _, u := range us {
		out.CPUPercent += u.CPUPercent
		out.CPUPercentMax += u.CPUPercentMax // an upper bound: peaks may not coincide
		out.RSSBytes += u.RSSBytes
		out.RSSMaxBytes += u.RSSMaxBytes
		out.Samples = max(out.Samples, u.Samples)
	}
	return out
}

// meanIn averages the points with from < T <= to+1 (a sample at T covers
// the second before it).
func meanIn(pts []result.Point, from, to float64) float64 {
	var sum float64
	var n int
	for _, p := range pts {
		if p.T > from && p.T <= to+1 {
			sum += p.V
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// ProcTree is a local server process read from /proc together with its
// children (a PostgreSQL server: the postmaster and its backends).
func ProcTree(name string, pid int) Source { return treeSource{name: name, pid: pid} }

type treeSource struct {
	name string
	pid  int
}

func (p treeSource) Name() string    { return p.name }
func (p treeSource) Kind() string    { return "/proc" }
func (p treeSource) Generator() bool { return false }

func (p treeSource) Read(context.Context) (float64, float64, error) {
	root, err := procfs.NewProc(p.pid)
	if err != nil {
		return 0, 0, fmt.Errorf("usage: %s: %w", p.name, err)
	}
	st, err := root.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("usage: %s: %w", p.name, err)
	}
	cpu, rss := st.CPUTime(), float64(st.ResidentMemory())
	all, err := procfs.AllProcs()
	if err != nil {
		return 0, 0, fmt.Errorf("usage: %s: %w", p.name, err)
	}
	for _, c := range all {
		cs, err := c.Stat()
		if err != nil || cs.PPID != p.pid {
			continue // gone meanwhile, or not a child
		}
		cpu += cs.CPUTime()
		rss += float64(cs.ResidentMemory())
	}
	return cpu, rss, nil
}
