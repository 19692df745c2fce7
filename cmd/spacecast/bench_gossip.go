package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spacecast/spacecast/bench/gossipbench"
	"github.com/spacecast/spacecast/bench/harness"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// runBenchGossip is `spacecast bench gossip`: self-contained, in-process
// gossip clusters on 127.0.0.1 (join convergence, failure detection and
// idle traffic against N); with --target gossip:host:port, an observer
// node joins a running cluster (keyring from SPACECAST_GOSSIP_KEYS) and
// measures it from outside with short-lived probe nodes.
func runBenchGossip(ctx context.Context, e env, args []string) error {
	cfg := gossipbench.DefaultConfig()
	fs := newFlagSet(e, "bench gossip")
	path := harness.OutputFlags(fs, &cfg.Common)
	fs.StringVar(&cfg.Target, "target", cfg.Target, "a running cluster's seeds, gossip:`host:port`[,host:port...] (keyring from "+clusterkey.EnvGossipKeys+"); empty: self-contained")
	fs.Func("sizes", "self-contained: cluster `sizes`, comma-separated (default 10,50,200)", func(s string) error {
		cfg.Sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return fmt.Errorf("size %q: %w", f, err)
			}
			cfg.Sizes = append(cfg.Sizes, n)
		}
		return nil
	})
	fs.StringVar(&cfg.Profile, "profile", cfg.Profile, "gossip profile: lan, wan or local (against a cluster: the one it runs)")
	fs.IntVar(&cfg.Joins, "joins", cfg.Joins, "self-contained: joins measured per size")
	fs.IntVar(&cfg.Kills, "kills", cfg.Kills, "self-contained: crashes measured per size")
	fs.DurationVar(&cfg.Idle, "idle", cfg.Idle, "idle traffic window (per size)")
	fs.DurationVar(&cfg.Quiet, "quiet", cfg.Quiet, "self-contained: wait after a cluster formed before the idle window")
	fs.BoolVar(&cfg.Encrypt, "encrypt", cfg.Encrypt, "self-contained: encrypt gossip (as in production)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on each wait")
	fs.IntVar(&cfg.Probes, "probes", cfg.Probes, "against a cluster: probe nodes that join and crash, one after the other")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "against a cluster: how long the observer's member count must stay unchanged")
	fs.StringVar(&cfg.Bind, "bind", cfg.Bind, "against a cluster: `host:port` the observer and probes listen on (default: this machine's address toward the first seed, any port)")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "against a cluster: the observer's and probes' region")
	if err := harness.Parse(fs, args, "gossip", &cfg, path); err != nil {
		return benchParseError(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "spacecast bench gossip: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if err := harness.CheckSLO(cfg.SLO); err != nil {
		return err
	}
	if cfg.Target != "" {
		var cc clusterkey.Config
		if err := cc.ApplyEnv(e.getenv); err != nil {
			return err
		}
		keys, err := cc.GossipKeyring()
		if err != nil {
			return err
		}
		cfg.Keys = keys
	}
	b, err := gossipbench.New(cfg)
	if err != nil {
		return err
	}
	return harness.Run(ctx, b, cfg.Common, e.stdout)
}
