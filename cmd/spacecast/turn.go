package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sync/errgroup"

	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/config"
	"github.com/spacecast/spacecast/internal/logging"
	"github.com/spacecast/spacecast/internal/tlsconf"
	"github.com/spacecast/spacecast/turn"
)

// turnFile is the config file of `spacecast turn`: the `turn:` section and
// the `cluster:` section that holds the TURN secrets (only turnSecrets is
// used here; SPACECAST_TURN_SECRETS overrides it).
type turnFile struct {
	// Log is the log's level and format (--debug forces debug).
	Log     logging.Config    `yaml:"log"`
	Turn    turn.Config       `yaml:"turn"`
	Cluster clusterkey.Config `yaml:"cluster"`
	// Metrics serves Prometheus metrics (TURN, Go runtime).
	Metrics metricsSection `yaml:"metrics"`
	// TLS is TURN over TLS's certificate, re-read when the files change
	// or on SIGHUP (turn.certFile/keyFile are read once).
	TLS tlsconf.Config `yaml:"tls"`
}

// runTurn runs the TURN/STUN server alone. SIGHUP reloads the TURN secrets.
func runTurn(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "turn")
	path := fs.String("config", "", "config file with turn: and cluster: sections (see deploy/turn.yaml)")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	f := turnFile{Log: logging.Default()}
	if *path != "" {
		if err := config.Load(*path, &f); err != nil {
			return err
		}
	}
	secrets, err := turnSecrets(*path, e.getenv)
	if err != nil {
		return err
	}
	cfg := f.Turn.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if *debug {
		f.Log.Level = "debug"
	}
	log, err := f.Log.New(e.stderr)
	if err != nil {
		return err
	}
	var tlsSrc *tlsconf.Source
	if f.TLS.Enabled() {
		if tlsSrc, err = tlsconf.Load(f.TLS, log.With("component", "tls")); err != nil {
			return fmt.Errorf("turn: %w", err)
		}
		if cfg.CertFile == "" {
			cfg.TLS = tlsSrc.TLSConfig()
		}
	}
	if cfg.TLSListen != turn.TLSOff && cfg.CertFile == "" && cfg.TLS == nil {
		log.Warn("no certFile/keyFile: TURN over TLS uses a self-signed certificate (development only)", "component", "turn")
	}
	ml, err := f.Metrics.listen()
	if err != nil {
		return err
	}
	if ml != nil {
		defer ml.Close()
	}
	gather, reg := newRegistry(f.Metrics)
	socks, err := turn.Listen(ctx, cfg)
	if err != nil {
		return err
	}
	srv, err := turn.New(cfg, secrets, socks, turn.WithLogger(log), turn.WithRegisterer(reg))
	if err != nil {
		socks.Close()
		return err
	}
	attrs := []any{"component", "turn", "udpSockets", len(socks.UDP)}
	if len(socks.UDP) > 0 {
		attrs = append(attrs, "udp", socks.UDP[0].LocalAddr().String())
	}
	for _, l := range socks.TCP {
		attrs = append(attrs, "tcp", l.Addr().String())
	}
	for _, l := range socks.TLS {
		attrs = append(attrs, "tls", l.Addr().String())
	}
	log.Info("listening", attrs...)

	// SIGHUP re-reads the TURN secrets (file and environment): rotation
	// without a restart.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group
	if ml != nil {
		log.Info("metrics listening", "addr", ml.Addr().String())
		g.Go(func() error { return metricsServer(runCtx, f.Metrics, ml, gather, log) })
	}
	if tlsSrc != nil {
		g.Go(func() error { tlsSrc.Run(runCtx); return nil })
	}
	g.Go(func() error {
		for {
			select {
			case <-runCtx.Done():
				return nil
			case <-hup:
				if tlsSrc != nil {
					if err := tlsSrc.Reload(runCtx); err != nil {
						log.Error("reload tls certificate; the previous one stays", "error", err)
					}
				}
				secrets, err := turnSecrets(*path, e.getenv)
				if err != nil {
					log.Error("reload TURN secrets", "component", "turn", "error", err)
					continue
				}
				srv.SetSecrets(secrets)
				log.Info("TURN secrets reloaded", "component", "turn", "count", len(secrets))
			}
		}
	})
	err = srv.Run(runCtx)
	cancel()
	if werr := g.Wait(); werr != nil && err == nil {
		err = werr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return srv.Close()
}

// turnSecrets reads the TURN secrets from the config file and environment.
func turnSecrets(path string, getenv func(string) string) ([]string, error) {
	var f turnFile
	if path != "" {
		if err := config.Load(path, &f); err != nil {
			return nil, err
		}
	}
	if err := f.Cluster.ApplyEnv(getenv); err != nil {
		return nil, err
	}
	if len(f.Cluster.TURNSecrets) == 0 {
		return nil, fmt.Errorf("%w: set cluster.turnSecrets or %s", turn.ErrNoSecrets, clusterkey.EnvTURNSecrets)
	}
	for i, s := range f.Cluster.TURNSecrets {
		if len(s) < 16 {
			return nil, fmt.Errorf("%w: turnSecrets[%d]: at least 16 characters", clusterkey.ErrInvalid, i)
		}
	}
	if err := (clusterkey.Config{TURNSecrets: f.Cluster.TURNSecrets}).CheckProduction(false); err != nil {
		return nil, err
	}
	return f.Cluster.TURNSecrets, nil
}
