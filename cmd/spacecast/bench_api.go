package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/spacecast/spacecast/bench/apibench"
	"github.com/spacecast/spacecast/bench/harness"
	"github.com/spacecast/spacecast/bench/selfhost"
)

// envBenchSecret holds the API client secret of a bench run against a
// running deployment (secrets never come from flags).
const envBenchSecret = "SPACECAST_BENCH_CLIENT_SECRET"

// runBenchAPI is `spacecast bench api`: REST load against a control plane.
func runBenchAPI(ctx context.Context, e env, args []string) error {
	cfg := apibench.DefaultConfig()
	fs := newFlagSet(e, "bench api")
	path := harness.Flags(fs, &cfg.Common)
	fs.IntVar(&cfg.Connections, "connections", cfg.Connections, "concurrent connections")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of each measured phase")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured load before each repeatable phase")
	fs.DurationVar(&cfg.SweepDuration, "sweep-duration", cfg.SweepDuration, "length of each step of the GET rate sweep")
	fs.Func("ops", "phases to run, comma-separated: token,get,create,join (default all)", func(s string) error {
		cfg.Ops = strings.Split(s, ",")
		return nil
	})
	fs.Func("sweep", "GET rate sweep steps as fractions of the maximum, e.g. 0.25,0.5,1 ('none' to skip)", func(s string) error {
		cfg.SweepSteps = nil
		if s == "none" {
			return nil
		}
		for _, f := range strings.Split(s, ",") {
			var v float64
			if _, err := fmt.Sscan(f, &v); err != nil {
				return fmt.Errorf("sweep step %q: %w", f, err)
			}
			cfg.SweepSteps = append(cfg.SweepSteps, v)
		}
		return nil
	})
	fs.IntVar(&cfg.MaxLinks, "max-links", cfg.MaxLinks, "at most this many links for the join phase")
	fs.StringVar(&cfg.MetricsURL, "metrics-url", cfg.MetricsURL, "the control plane's Prometheus `URL`, for its CPU and memory when it is remote")
	inProcess := fs.Bool("in-process", false, "self-contained: run the control plane inside the bench process (its CPU is then not told apart from the generator's)")
	serve := fs.Bool("serve", false, "internal: run a control plane for a self-contained run and print its address and client as JSON")
	data := fs.String("data", "", "with --serve: data folder")
	serveBare := fs.String("serve-baseline", "", "serve only the bare fixed-200 handler on `addr` (to load it with wrk); prints its URL")
	if err := harness.Parse(fs, args, "api", &cfg, path); err != nil {
		return benchParseError(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "spacecast bench api: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *serveBare != "" {
		return apibench.ServeBaseline(ctx, *serveBare, func(url string) { fmt.Fprintln(e.stdout, url) })
	}
	if *serve {
		return selfhost.Serve(ctx, selfhost.Options{DataDir: *data}, func(info selfhost.Info) {
			_ = selfhost.PrintInfo(e.stdout, info)
		})
	}
	if err := harness.CheckSLO(cfg.SLO); err != nil {
		return err
	}
	cfg.ClientSecret = e.getenv(envBenchSecret)
	if cfg.Target == "" {
		stop, err := selfContainedControlPlane(ctx, e, &cfg, *inProcess)
		if err != nil {
			return err
		}
		defer stop()
	}
	b, err := apibench.New(cfg)
	if err != nil {
		return err
	}
	return harness.Run(ctx, b, cfg.Common, e.stdout)
}

// benchParseError maps a harness.Parse error: help stays help, a refused
// command line is a usage error (already explained), a bad scenario file
// is returned as it is.
func benchParseError(err error) error {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return flag.ErrHelp
	case errors.Is(err, harness.ErrFlags):
		return errUsage
	}
	return err
}

// selfContainedControlPlane starts a control plane on a fresh store for
// the run, as a child process unless inProcess, and points cfg at it.
func selfContainedControlPlane(ctx context.Context, e env, cfg *apibench.Config, inProcess bool) (func(), error) {
	dir, err := os.MkdirTemp("", "spacecast-bench-api-")
	if err != nil {
		return nil, err
	}
	cfg.SelfContained = true
	if inProcess {
		ctx, cancel := context.WithCancel(ctx)
		infoc := make(chan selfhost.Info, 1)
		errc := make(chan error, 1)
		go func() {
			errc <- selfhost.Serve(ctx, selfhost.Options{DataDir: dir}, func(i selfhost.Info) { infoc <- i })
		}()
		select {
		case info := <-infoc:
			cfg.Target, cfg.ClientID, cfg.ClientSecret = info.URL, info.ClientID, info.ClientSecret
			return func() { cancel(); <-errc; _ = os.RemoveAll(dir) }, nil
		case err := <-errc:
			cancel()
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "bench", "api", "--serve", "--data", dir)
	cmd.Stderr = e.stderr
	cmd.SysProcAttr = dieWithParent()
	child, err := selfhost.Start(ctx, cmd)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cfg.Target, cfg.ClientID, cfg.ClientSecret, cfg.ServerPID = child.URL, child.ClientID, child.ClientSecret, child.PID
	fmt.Fprintf(e.stdout, "self-contained: control plane pid %d at %s (data %s)\n", child.PID, child.URL, dir)
	return func() { _ = child.Stop(); _ = os.RemoveAll(dir) }, nil
}
