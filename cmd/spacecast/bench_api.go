package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/spacecast/spacecast/bench/apibench"
	"github.com/spacecast/spacecast/bench/harness"
	"github.com/spacecast/spacecast/bench/selfhost"
	"github.com/spacecast/spacecast/controlplane/store/postgres"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/pgserver"
	"github.com/spacecast/spacecast/internal/procattr"
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
	fs.Func("replicas", "further control-plane replicas beside --target, comma-separated base `URLs`: requests are spread over all, and go to the next one that can take them", func(s string) error {
		cfg.Replicas = nil
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.Replicas = append(cfg.Replicas, u)
			}
		}
		return nil
	})
	inProcess := fs.Bool("in-process", false, "self-contained: run the control plane inside the bench process (its CPU is then not told apart from the generator's)")
	storeKind := fs.String("store", "sqlite", "self-contained: the control plane's store, sqlite or postgres (a throwaway PostgreSQL server started for the run)")
	servers := fs.Int("servers", 1, "self-contained: control-plane replicas to run (more than one needs --store postgres)")
	serve := fs.Bool("serve", false, "internal: run a control plane for a self-contained run and print its address and client as JSON")
	noClient := fs.Bool("no-client", false, "internal: with --serve, make no API client (a further replica)")
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
		o := selfhost.Options{DataDir: *data, NoClient: *noClient}
		if dsn := e.getenv(envStoreDSN); dsn != "" {
			o.Postgres = postgres.Config{DSN: dsn, Password: e.getenv(envStorePassword), MaxConns: 32}
		}
		if e.getenv(clusterkey.EnvAPIKeys) != "" {
			if err := o.Cluster.ApplyEnv(e.getenv); err != nil {
				return err
			}
		}
		return selfhost.Serve(ctx, o, func(info selfhost.Info) {
			_ = selfhost.PrintInfo(e.stdout, info)
		})
	}
	if err := harness.CheckSLO(cfg.SLO); err != nil {
		return err
	}
	cfg.ClientSecret = e.getenv(envBenchSecret)
	if cfg.Target == "" {
		var stop func()
		var err error
		switch {
		case *storeKind == "postgres":
			if *inProcess {
				return errors.New("--in-process runs one replica on SQLite; drop it with --store postgres")
			}
			stop, err = selfContainedReplicas(ctx, e, &cfg, max(1, *servers))
		case *storeKind != "sqlite":
			return fmt.Errorf("--store %q: want sqlite or postgres", *storeKind)
		case *servers > 1:
			return errors.New("--servers above 1 needs --store postgres: SQLite serves one replica")
		default:
			stop, err = selfContainedControlPlane(ctx, e, &cfg, *inProcess)
		}
		if err != nil {
			return err
		}
		defer stop()
	} else if *servers != 1 || *storeKind != "sqlite" {
		return errors.New("--store and --servers are for self-contained runs (no --target)")
	}
	if cfg.Baseline == nil {
		cfg.Baseline = childBaseline(e)
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
			cfg.Target, cfg.ClientID, cfg.ClientSecret, cfg.Store = info.URL, info.ClientID, info.ClientSecret, "sqlite"
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
	cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
	child, err := selfhost.Start(ctx, cmd)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	cfg.Target, cfg.ClientID, cfg.ClientSecret, cfg.ServerPIDs, cfg.Store = child.URL, child.ClientID, child.ClientSecret, []int{child.PID}, "sqlite"
	fmt.Fprintf(e.stdout, "self-contained: control plane pid %d at %s (data %s)\n", child.PID, child.URL, dir)
	return func() { _ = child.Stop(); _ = os.RemoveAll(dir) }, nil
}

// selfContainedReplicas starts a throwaway PostgreSQL server (durable, as
// in production) and n control-plane replicas on it, each a child
// process, and points cfg at them: the first is the target, the others
// its replicas.
func selfContainedReplicas(ctx context.Context, e env, cfg *apibench.Config, n int) (func(), error) {
	srv, err := pgserver.Start(ctx, pgserver.Options{Durable: true, MaxConnections: 64 * n})
	if err != nil {
		return nil, err
	}
	stops := []func(){func() { _ = srv.Stop() }}
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if _, err := srv.CreateDB(ctx, "spacecast"); err != nil {
		stop()
		return nil, err
	}
	cl, err := clusterkey.Generate()
	if err != nil {
		stop()
		return nil, err
	}
	var keys []string
	for k, v := range cl.APIKeys {
		keys = append(keys, k+":"+v)
	}
	childEnv := append(os.Environ(), envStoreDSN+"="+srv.DSNWithoutPassword("spacecast"), envStorePassword+"="+srv.Password,
		clusterkey.EnvAPIKeys+"="+strings.Join(keys, ","), clusterkey.EnvSigningKey+"="+cl.SigningKey,
		clusterkey.EnvTURNSecrets+"="+strings.Join(cl.TURNSecrets, ","))
	exe, err := os.Executable()
	if err != nil {
		stop()
		return nil, err
	}
	cfg.SelfContained, cfg.Store, cfg.DatabasePID = true, "postgres", srv.PID()
	for i := range n {
		args := []string{"bench", "api", "--serve"}
		if i > 0 {
			args = append(args, "--no-client")
		}
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = childEnv
		cmd.Stderr = e.stderr
		cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
		child, err := selfhost.Start(ctx, cmd)
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, func() { _ = child.Stop() })
		if i == 0 {
			cfg.Target, cfg.ClientID, cfg.ClientSecret = child.URL, child.ClientID, child.ClientSecret
		} else {
			cfg.Replicas = append(cfg.Replicas, child.URL)
		}
		cfg.ServerPIDs = append(cfg.ServerPIDs, child.PID)
		fmt.Fprintf(e.stdout, "self-contained: control plane %d pid %d at %s\n", i+1, child.PID, child.URL)
	}
	fmt.Fprintf(e.stdout, "self-contained: PostgreSQL pid %d on 127.0.0.1:%d (durable: fsync and synchronous commits on)\n", srv.PID(), srv.Port)
	return stop, nil
}

// childBaseline runs the bare handler the GET is compared with as a child
// process, like the control plane, so that neither shares the generator's
// CPU: `spacecast bench api --serve-baseline 127.0.0.1:0`.
func childBaseline(e env) func(context.Context) (string, func(), error) {
	return func(ctx context.Context) (string, func(), error) {
		exe, err := os.Executable()
		if err != nil {
			return "", nil, err
		}
		cmd := exec.Command(exe, "bench", "api", "--serve-baseline", "127.0.0.1:0")
		cmd.Stderr = e.stderr
		cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return "", nil, err
		}
		if err := cmd.Start(); err != nil {
			return "", nil, fmt.Errorf("baseline: %w", err)
		}
		done := make(chan error, 1)
		lines := make(chan string, 1)
		go func() {
			br := bufio.NewReader(out)
			line, _ := br.ReadString('\n')
			lines <- strings.TrimSpace(line)
			_, _ = io.Copy(io.Discard, br)
			done <- cmd.Wait()
		}()
		stop := func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}
		select {
		case url := <-lines:
			if !strings.HasPrefix(url, "http://") {
				stop()
				return "", nil, fmt.Errorf("baseline: the child printed %q", url)
			}
			return url, stop, nil
		case <-time.After(30 * time.Second):
		case <-ctx.Done():
		}
		stop()
		return "", nil, errors.New("baseline: the child did not start")
	}
}
