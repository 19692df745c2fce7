package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"

	"golang.org/x/sync/errgroup"

	"github.com/spacecast/spacecast/controlplane"
	"github.com/spacecast/spacecast/controlplane/gossipview"
	cpmetrics "github.com/spacecast/spacecast/controlplane/metrics"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/web"
	"github.com/spacecast/spacecast/controlplane/webhook"
	"github.com/spacecast/spacecast/gossip"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/config"
	"github.com/spacecast/spacecast/internal/logging"
	"github.com/spacecast/spacecast/internal/tlsconf"
)

// controlplaneFile is the config file of `spacecast controlplane` (see
// deploy/controlplane.yaml).
type controlplaneFile struct {
	Log          logging.Config      `yaml:"log"`
	Cluster      clusterkey.Config   `yaml:"cluster"`
	Controlplane controlplane.Config `yaml:"controlplane"`
	Store        storeSection        `yaml:"store"`
	// Gossip joins the fleet when it names the node or gives seeds: joins
	// are then placed over the fleet's edges (placement section) instead of
	// controlplane.devEdge.
	Gossip    gossip.Config    `yaml:"gossip"`
	Placement placement.Policy `yaml:"placement"`
	// Metrics serves Prometheus metrics.
	Metrics metricsSection `yaml:"metrics"`
	// Webhooks delivers the spaces' signed call events, fed by the edges'
	// reports at /internal/v1/edge-events.
	Webhooks webhook.Config `yaml:"webhooks"`
	// TLS serves the API and the room page over HTTPS (with HSTS) from
	// these certificates, re-read when the files change or on SIGHUP.
	// Empty: plain HTTP, behind a proxy that terminates TLS, or dev.
	TLS tlsconf.Config `yaml:"tls"`
	// Storage is where the edges store recordings: the control plane
	// lists them and signs their download links with it (the same
	// section as the edges'; credentials from the environment). Left out:
	// downloads answer 503.
	Storage blob.Config `yaml:"storage"`
}

func defaultControlplaneFile() controlplaneFile {
	g := gossip.Default()
	g.Role = gossip.RoleControlPlane
	return controlplaneFile{Log: logging.Default(), Controlplane: controlplane.DefaultConfig(),
		Store: storeSection{Driver: "sqlite", DataDir: "data"}, Gossip: g, Webhooks: webhook.DefaultConfig()}
}

// loadControlplaneFile reads a config file strictly, then the environment
// overrides of the cluster secrets.
func loadControlplaneFile(path string, getenv func(string) string) (controlplaneFile, error) {
	cfg := defaultControlplaneFile()
	if err := config.Load(path, &cfg); err != nil {
		return cfg, err
	}
	if err := cfg.Cluster.ApplyEnv(getenv); err != nil {
		return cfg, err
	}
	cfg.Store.applyEnv(getenv)
	cfg.Gossip.Role = gossip.RoleControlPlane
	return cfg, nil
}

// runControlplane runs the control plane from a config file: it listens on
// the API port before serving, prints the URLs it serves, and drains on
// SIGTERM/SIGINT (ctx cancelled).
func runControlplane(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "controlplane")
	path := fs.String("config", "", "config file (sections log, cluster, controlplane, store)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		fmt.Fprintln(e.stderr, "spacecast controlplane: --config FILE is required")
		return errUsage
	}
	cfg, err := loadControlplaneFile(*path, e.getenv)
	if err != nil {
		return err
	}
	if err := cfg.Cluster.Validate(); err != nil {
		return err
	}
	if err := checkProduction(cfg.Cluster, cfg.Gossip); err != nil {
		return err
	}
	if err := cfg.Controlplane.Validate(); err != nil {
		return err
	}
	if err := cfg.Webhooks.Validate(); err != nil {
		return err
	}
	if err := cfg.Store.validate(); err != nil {
		return err
	}
	if gossipEnabled(cfg.Gossip) {
		if err := cfg.Gossip.Validate(); err != nil {
			return err
		}
		if err := cfg.Placement.Validate(); err != nil {
			return err
		}
	}
	log, err := cfg.Log.New(e.stderr)
	if err != nil {
		return err
	}
	var tlsSrc *tlsconf.Source
	if cfg.TLS.Enabled() {
		if u, err := url.Parse(cfg.Controlplane.PublicURL); err == nil && u.Scheme == "http" {
			return fmt.Errorf("controlplane.publicURL %q is http:// but tls is on: give the https:// URL clients reach", cfg.Controlplane.PublicURL)
		}
		if tlsSrc, err = tlsconf.Load(cfg.TLS, log.With("component", "tls")); err != nil {
			return fmt.Errorf("controlplane: %w", err)
		}
		cfg.Controlplane.HSTS = true
	}
	if cfg.Metrics.Node == "" {
		cfg.Metrics.Node = cfg.Gossip.NodeID
	}
	if cfg.Metrics.Region == "" {
		cfg.Metrics.Region = cfg.Gossip.Region
	}
	gather, reg := newRegistry(cfg.Metrics)
	cpm, err := cpmetrics.New(reg)
	if err != nil {
		return err
	}
	opened, err := cfg.Store.open(ctx, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer opened.Close()
	st := cpm.Store(opened) // every operation timed, whoever makes it
	page, err := web.New(web.Deps{Store: st, Logger: log})
	if err != nil {
		return err
	}
	deliverer, err := webhook.New(cfg.Webhooks, webhook.Deps{Store: st, Logger: log, Registerer: reg})
	if err != nil {
		return err
	}
	calls, err := webhook.NewCalls(cfg.Webhooks.Calls, st, log, nil)
	if err != nil {
		return err
	}
	events, err := webhook.NewHandler(calls, cfg.Cluster, log)
	if err != nil {
		return err
	}
	deps := controlplane.Deps{Store: st, Logger: log, Cluster: cfg.Cluster, Page: page.Handler(), Internal: events.Serve, Metrics: cpm}
	if storageConfigured(cfg.Storage) {
		rs, local, err := openStorage(ctx, cfg.Storage, cfg.Controlplane.PublicURL, e.getenv)
		if err != nil {
			return err
		}
		deps.Recordings = rs
		if local != nil {
			deps.Files = local.Handler()
		}
	}
	var node *gossip.Node
	if gossipEnabled(cfg.Gossip) {
		if node, err = startGossip(cfg.Gossip, cfg.Cluster, log); err != nil {
			return err
		}
		defer node.Close() // after Run returned; closes the sockets if it never ran
		if err := reg.Register(node.Collector()); err != nil {
			return fmt.Errorf("gossip metrics: %w", err)
		}
		if err := fleetDeps(&deps, node, cfg); err != nil {
			return err
		}
	}
	srv, err := controlplane.New(cfg.Controlplane, deps)
	if err != nil {
		return err
	}
	ml, err := cfg.Metrics.listen()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Controlplane.Listen)
	if err != nil {
		if ml != nil {
			_ = ml.Close()
		}
		return fmt.Errorf("listen %s: %w", cfg.Controlplane.Listen, err)
	}
	scheme := "http://"
	if tlsSrc != nil {
		ln = tls.NewListener(ln, tlsSrc.TLSConfig("http/1.1"))
		scheme = "https://"
	}
	printURLs(e, scheme+ln.Addr().String(), cfg.Controlplane.PublicURL)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Run(gctx, ln) })
	g.Go(func() error { return deliverer.Run(gctx) })
	g.Go(func() error { return calls.Run(gctx) })
	if ml != nil {
		log.Info("metrics listening", "addr", ml.Addr().String())
		g.Go(func() error { return metricsServer(gctx, cfg.Metrics, ml, gather, log) })
	}
	if node != nil {
		g.Go(func() error { return node.Run(gctx) })
	}
	if tlsSrc != nil {
		g.Go(func() error { tlsSrc.Run(gctx); return nil })
	}
	// SIGHUP re-reads the cluster section: gossip keys, and the API keys
	// that authenticate the edges' event reports.
	waitHUP := onHangup(gctx, func() {
		c, err := loadControlplaneFile(*path, e.getenv)
		if err == nil {
			err = c.Cluster.Validate()
		}
		if err != nil {
			log.Error("reload config", "error", err)
			return
		}
		if err := events.SetCluster(c.Cluster); err != nil {
			log.Error("reload cluster keys for edge reports", "error", err)
		}
		if node != nil {
			reloadGossipKeys(node, c.Cluster, log)
		}
		if tlsSrc != nil {
			if err := tlsSrc.Reload(gctx); err != nil {
				log.Error("reload tls certificate; the previous one stays", "error", err)
			}
		}
	})
	defer waitHUP()
	err = g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, gossip.ErrClosed) {
		return err
	}
	return nil
}

// fleetDeps points placement, moderation, revocations and the region list
// at the fleet node sees.
func fleetDeps(deps *controlplane.Deps, node *gossip.Node, cfg controlplaneFile) error {
	placer, err := placement.NewGossip(node, cfg.Placement)
	if err != nil {
		return err
	}
	fl, err := gossipview.New(node, cfg.Controlplane.SessionTTL)
	if err != nil {
		return err
	}
	deps.Placer, deps.Locator, deps.Revocations, deps.Regions = placer, fl, fl, fl.Regions
	return nil
}

// printURLs tells the operator what is served where.
func printURLs(e env, base, public string) {
	fmt.Fprintf(e.stdout, "spacecast control plane listening on %s\n", base)
	fmt.Fprintf(e.stdout, "  API         %s/v1\n", base)
	fmt.Fprintf(e.stdout, "  OpenAPI     %s/v1/openapi.json\n", base)
	fmt.Fprintf(e.stdout, "  Swagger UI  %s/docs\n", base)
	fmt.Fprintf(e.stdout, "  health      %s/healthz  %s/readyz\n", base, base)
	fmt.Fprintf(e.stdout, "  room pages  %s/room/<alias>\n", public)
}
