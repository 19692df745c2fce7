package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spacecast/spacecast/internal/httpserve"
)

// metricsSection is the `metrics:` section: where Prometheus scrapes this
// process. Keep it off the public interfaces (it tells how many rooms and
// participants there are).
type metricsSection struct {
	// Listen is host:port for GET /metrics; empty serves nothing.
	Listen string `yaml:"listen"`
}

// metricsServer serves /metrics from g on ln until ctx ends.
func metricsServer(ctx context.Context, ln net.Listener, g prometheus.Gatherer, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	if err := httpserve.Serve(ctx, ln, mux, 2*time.Second); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
