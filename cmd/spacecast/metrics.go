package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spacecast/spacecast/internal/httpserve"
)

// metricsSection is the `metrics:` section: where Prometheus scrapes this
// process. Keep it off the public interfaces (it tells how many rooms and
// participants there are).
type metricsSection struct {
	// Listen is host:port for GET /metrics; empty serves nothing.
	Listen string `yaml:"listen"`
	// Pprof also serves Go's profiler under /debug/pprof/ on the same
	// listener, for profiling a production process under real load.
	Pprof bool `yaml:"pprof"`
	// Region and Node label every series of the process (an edge takes
	// them from edge.region and edge.nodeID unless given): dashboards and
	// alerts group by them. Nothing is labelled by room or participant,
	// which would grow without bound.
	Region string `yaml:"region"`
	Node   string `yaml:"node"`
}

// labels are the constant labels of every series: region and node, where
// known.
func (m metricsSection) labels() prometheus.Labels {
	l := prometheus.Labels{}
	if m.Region != "" {
		l["region"] = m.Region
	}
	if m.Node != "" {
		l["node"] = m.Node
	}
	return l
}

// newRegistry is a process's metrics registry (what /metrics serves) and
// the registerer its parts register on, which adds the section's region
// and node labels to every series; the Go runtime and process (CPU, RSS)
// collectors every role reports are registered already.
func newRegistry(m metricsSection) (*prometheus.Registry, prometheus.Registerer) {
	reg := prometheus.NewRegistry()
	wrapped := prometheus.WrapRegistererWith(m.labels(), reg)
	wrapped.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, wrapped
}

// listen binds the metrics address; nil when metrics are off.
func (m metricsSection) listen() (net.Listener, error) {
	if m.Listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", m.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen %s: %w", m.Listen, err)
	}
	return ln, nil
}

// metricsServer serves /metrics from g on ln until ctx ends, and the
// profiler when m.Pprof.
func metricsServer(ctx context.Context, m metricsSection, ln net.Listener, g prometheus.Gatherer, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	if m.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if err := httpserve.Serve(ctx, ln, mux, 2*time.Second); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
