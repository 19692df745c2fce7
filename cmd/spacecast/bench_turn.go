package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spacecast/spacecast/bench/harness"
	"github.com/spacecast/spacecast/bench/turnbench"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// runBenchTurn is `spacecast bench turn`: many allocations on a TURN server
// relaying traffic at increasing rates. By default it starts our server as
// a child process (`spacecast turn`) so that its CPU is measured apart from
// the generator's; --target coturn starts coturn's turnserver the same way,
// --target ours,coturn measures both side by side, and --target
// turn:host:port measures a running server (its shared secret from
// SPACECAST_TURN_SECRETS; its CPU with --server-pid or --metrics-url).
func runBenchTurn(ctx context.Context, e env, args []string) error {
	cfg := turnbench.DefaultConfig()
	fs := newFlagSet(e, "bench turn")
	path := harness.OutputFlags(fs, &cfg.Common)
	fs.StringVar(&cfg.Target, "target", cfg.Target, `what to measure, comma-separated: "ours" (child spacecast turn), "coturn" (child turnserver), "turn:host:port" (a running server; secret from `+clusterkey.EnvTURNSecrets+")")
	fs.Func("url", "deprecated: the same as --target turn:`host:port`", func(s string) error {
		cfg.Target = turnbench.TargetRemotePrefix + s
		return nil
	})
	fs.IntVar(&cfg.ServerPID, "server-pid", cfg.ServerPID, "with turn:host:port on this machine: the server process whose CPU is measured")
	fs.StringVar(&cfg.MetricsURL, "metrics-url", cfg.MetricsURL, "with turn:host:port: the server's Prometheus `URL`, for its CPU")
	fs.StringVar(&cfg.PeerIP, "peer-ip", cfg.PeerIP, "with turn:host:port: the `address` the peer sockets bind, which the server relays to (default: this machine's address toward the server)")
	fs.IntVar(&cfg.Repeat, "repeat", cfg.Repeat, "run the targets this many times, alternating (the machine's noise shows in the spread)")
	fs.IntVar(&cfg.Allocations, "allocations", cfg.Allocations, "allocations, each relaying both ways through one channel")
	fs.IntVar(&cfg.Payload, "payload", cfg.Payload, "payload bytes per packet")
	fs.Func("rates", "offered packets/s per step, both directions together, comma-separated (default 10000,...,200000)", func(s string) error {
		cfg.Rates = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("bad rate %q", f)
			}
			cfg.Rates = append(cfg.Rates, n)
		}
		return nil
	})
	fs.DurationVar(&cfg.Step, "step", cfg.Step, "length of each step")
	fs.IntVar(&cfg.UDPSockets, "udp-sockets", cfg.UDPSockets, "ours: SO_REUSEPORT UDP sockets (default GOMAXPROCS)")
	fs.StringVar(&cfg.Turnserver, "turnserver", cfg.Turnserver, "coturn: the turnserver binary")
	verbose := fs.Bool("verbose", false, "show the started servers' logs on stderr")
	if err := harness.Parse(fs, args, "turn", &cfg, path); err != nil {
		return benchParseError(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "spacecast bench turn: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if err := harness.CheckSLO(cfg.SLO); err != nil {
		return err
	}
	if s := strings.Split(e.getenv(clusterkey.EnvTURNSecrets), ","); strings.TrimSpace(s[0]) != "" {
		cfg.Secret = strings.TrimSpace(s[0])
	}
	if *verbose {
		cfg.ServerStderr = e.stderr
	}
	b, err := turnbench.New(cfg)
	if err != nil {
		return err
	}
	return harness.Run(ctx, b, cfg.Common, e.stdout)
}
