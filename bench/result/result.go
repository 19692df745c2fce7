package result

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
)

// Units used by metrics. SLO thresholds and comparisons understand them.
const (
	UnitMs      = "ms"
	UnitUs      = "us"
	UnitPercent = "%"
	UnitPerSec  = "/s"
	UnitBps     = "bps"
	UnitBytes   = "bytes"
	UnitCount   = "count"
	UnitRatio   = "ratio"
	// UnitBytesPerSec is a byte rate (such as gossip traffic per node).
	UnitBytesPerSec = "B/s"
)

// Result is one run of one scenario.
type Result struct {
	Scenario  string    `json:"scenario"`
	Meta      Meta      `json:"meta"`
	Config    any       `json:"config,omitempty"`
	Metrics   []Metric  `json:"metrics"`
	Latencies []Latency `json:"latencies"`
	Series    []Series  `json:"series,omitempty"`
	Sweeps    []Sweep   `json:"sweeps,omitempty"`
	Plots     []Plot    `json:"plots,omitempty"`
	Resources Resources `json:"resources"`
	Tables    []Table   `json:"tables,omitempty"`
	Checks    []Check   `json:"checks,omitempty"`
	Warnings  []string  `json:"warnings,omitempty"`
}

// Meta says where, when and against what the run happened.
type Meta struct {
	Start         time.Time `json:"start"`
	DurationSec   float64   `json:"durationSeconds"`
	Target        string    `json:"target"`
	SelfContained bool      `json:"selfContained"`
	Hostname      string    `json:"hostname"`
	OS            string    `json:"os"`
	Arch          string    `json:"arch"`
	CPUModel      string    `json:"cpuModel,omitempty"`
	CPUs          int       `json:"cpus"`
	GOMAXPROCS    int       `json:"gomaxprocs"`
	MemTotalBytes uint64    `json:"memTotalBytes,omitempty"`
	GoVersion     string    `json:"goVersion"`
	Version       string    `json:"version,omitempty"`
}

// Metric is one named number.
type Metric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
	Help  string  `json:"help,omitempty"`
}

// Latency is a latency distribution, in milliseconds.
type Latency struct {
	Name    string   `json:"name"`
	Count   uint64   `json:"count"`
	MinMs   float64  `json:"minMs"`
	MeanMs  float64  `json:"meanMs"`
	P50Ms   float64  `json:"p50Ms"`
	P90Ms   float64  `json:"p90Ms"`
	P95Ms   float64  `json:"p95Ms"`
	P99Ms   float64  `json:"p99Ms"`
	P999Ms  float64  `json:"p999Ms"`
	MaxMs   float64  `json:"maxMs"`
	Buckets []Bucket `json:"buckets,omitempty"`
}

// Bucket is one bar of a latency distribution: Count values in
// (previous LeMs, LeMs].
type Bucket struct {
	LeMs  float64 `json:"leMs"`
	Count uint64  `json:"count"`
}

// Series is a value over time; T is seconds since the run started.
type Series struct {
	Name   string  `json:"name"`
	Unit   string  `json:"unit"`
	Points []Point `json:"points"`
}

// Point is one sample of a Series.
type Point struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// Sweep is throughput against offered load.
type Sweep struct {
	Name   string       `json:"name"`
	Points []SweepPoint `json:"points"`
	// Group, when set, draws every sweep of the same group on one chart
	// (two servers measured side by side).
	Group string `json:"group,omitempty"`
}

// Plot is a chart of values against something other than time or offered
// load (such as cluster size N): one or more lines over a shared X axis.
type Plot struct {
	Name   string `json:"name"`
	XLabel string `json:"xLabel"`
	// Unit is the Y values' unit.
	Unit string `json:"unit"`
	// LogX draws X on a logarithmic scale (sizes such as 10, 50, 200).
	LogX  bool       `json:"logX,omitempty"`
	Lines []PlotLine `json:"lines"`
}

// PlotLine is one named line of a Plot.
type PlotLine struct {
	Name   string `json:"name"`
	Points []XY   `json:"points"`
}

// XY is one point of a PlotLine.
type XY struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// SweepPoint is one load step of a Sweep. OfferedPerSec is 0 for a
// closed-loop step (as fast as the connections allow).
type SweepPoint struct {
	OfferedPerSec  float64 `json:"offeredPerSec"`
	AchievedPerSec float64 `json:"achievedPerSec"`
	P50Ms          float64 `json:"p50Ms"`
	P99Ms          float64 `json:"p99Ms"`
	Errors         uint64  `json:"errors"`
	// LossPercent is the share of the offered load that was not delivered
	// (for packet scenarios such as TURN).
	LossPercent float64 `json:"lossPercent,omitempty"`
}

// Table is per-item detail (one row per subscriber track, per load step,
// per cluster size...): too many values for named metrics.
type Table struct {
	Name    string     `json:"name"`
	Label   string     `json:"label"`   // what a row's label names
	Columns []string   `json:"columns"` // value columns, with their units
	Rows    []TableRow `json:"rows"`
}

// TableRow is one row of a Table.
type TableRow struct {
	Label  string    `json:"label"`
	Values []float64 `json:"values"`
}

// Resources is what the run cost, on the generator and on the servers.
type Resources struct {
	Generator Usage   `json:"generator"`
	Servers   []Usage `json:"servers,omitempty"`
	// GeneratorLimited is true when the load generator, not the system
	// under test, was the bottleneck; the numbers are then a lower bound.
	GeneratorLimited bool `json:"generatorLimited"`
}

// Usage is CPU and memory of one process. CPU percent is of one core
// (200 = two cores busy).
type Usage struct {
	Name          string  `json:"name"`
	Source        string  `json:"source"` // "self", "/proc", "prometheus"
	CPUPercent    float64 `json:"cpuPercent"`
	CPUPercentMax float64 `json:"cpuPercentMax"`
	RSSBytes      float64 `json:"rssBytes"`
	RSSMaxBytes   float64 `json:"rssMaxBytes"`
	Samples       int     `json:"samples"`
}

// Check is a correctness verdict (such as exactly-once redemption). A run
// with a failed check fails, whatever the SLOs.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// New starts a result for scenario, filling the machine metadata.
func New(scenario, target string, start time.Time) *Result {
	host, _ := os.Hostname()
	r := &Result{
		Scenario: scenario,
		Meta: Meta{
			Start:      start.UTC(),
			Target:     target,
			Hostname:   host,
			OS:         runtime.GOOS,
			Arch:       runtime.GOARCH,
			CPUs:       runtime.NumCPU(),
			GOMAXPROCS: runtime.GOMAXPROCS(0),
			GoVersion:  runtime.Version(),
		},
		Metrics:   []Metric{},
		Latencies: []Latency{},
	}
	r.Meta.CPUModel, r.Meta.MemTotalBytes = machine()
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		r.Meta.Version = bi.Main.Version
	}
	return r
}

func machine() (model string, mem uint64) {
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			var kb uint64
			if _, err := fmt.Sscanf(s.Text(), "MemTotal: %d kB", &kb); err == nil {
				mem = kb * 1024
				break
			}
		}
		_ = f.Close()
	}
	return model, mem
}

// Add appends a metric.
func (r *Result) Add(name, unit string, v float64, help string) {
	r.Metrics = append(r.Metrics, Metric{Name: name, Unit: unit, Value: v, Help: help})
}

// AddLatency appends the distribution of h (nanoseconds) under name.
func (r *Result) AddLatency(name string, h *hist.Histogram) {
	r.Latencies = append(r.Latencies, LatencyOf(name, h))
}

// LatencyOf summarises h (nanoseconds) as a Latency.
func LatencyOf(name string, h *hist.Histogram) Latency {
	ms := func(v int64) float64 { return float64(v) / 1e6 }
	l := Latency{
		Name:   name,
		Count:  h.Count(),
		MinMs:  ms(h.Min()),
		MeanMs: h.Mean() / 1e6,
		P50Ms:  ms(h.Quantile(0.50)),
		P90Ms:  ms(h.Quantile(0.90)),
		P95Ms:  ms(h.Quantile(0.95)),
		P99Ms:  ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)),
		MaxMs:  ms(h.Max()),
	}
	for _, b := range h.Buckets(10) {
		l.Buckets = append(l.Buckets, Bucket{LeMs: ms(b.Le), Count: b.Count})
	}
	return l
}

// AddCheck appends a correctness verdict.
func (r *Result) AddCheck(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
}

// Warn appends a warning shown in the summary and the report.
func (r *Result) Warn(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// FailedChecks returns the checks that did not pass.
func (r *Result) FailedChecks() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// ErrUnknownMetric is returned by Lookup for a name the result lacks.
var ErrUnknownMetric = errors.New("result: unknown metric")

// Lookup finds a value by name: a metric's name, or a latency's name with
// a suffix _p50, _p90, _p95, _p99, _p999, _max, _mean, _min (in ms) or
// _count.
func (r *Result) Lookup(name string) (float64, string, error) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value, m.Unit, nil
		}
	}
	if i := strings.LastIndexByte(name, '_'); i > 0 {
		base, stat := name[:i], name[i+1:]
		for _, l := range r.Latencies {
			if l.Name != base {
				continue
			}
			if v, ok := l.stat(stat); ok {
				if stat == "count" {
					return v, UnitCount, nil
				}
				return v, UnitMs, nil
			}
		}
	}
	return 0, "", fmt.Errorf("%w %q (known: %s)", ErrUnknownMetric, name, strings.Join(r.Names(), ", "))
}

func (l Latency) stat(s string) (float64, bool) {
	switch s {
	case "p50":
		return l.P50Ms, true
	case "p90":
		return l.P90Ms, true
	case "p95":
		return l.P95Ms, true
	case "p99":
		return l.P99Ms, true
	case "p999":
		return l.P999Ms, true
	case "max":
		return l.MaxMs, true
	case "min":
		return l.MinMs, true
	case "mean":
		return l.MeanMs, true
	case "count":
		return float64(l.Count), true
	}
	return 0, false
}

// Names lists every name Lookup accepts, sorted.
func (r *Result) Names() []string {
	var out []string
	for _, m := range r.Metrics {
		out = append(out, m.Name)
	}
	for _, l := range r.Latencies {
		for _, s := range []string{"p50", "p95", "p99", "max"} {
			out = append(out, l.Name+"_"+s)
		}
	}
	sort.Strings(out)
	return out
}

// Write stores r as indented JSON at path.
func (r *Result) Write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("result: encode: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("result: write: %w", err)
	}
	return nil
}

// Read loads a result written by Write.
func Read(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("result: read: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("result: %s: %w", path, err)
	}
	return &r, nil
}
