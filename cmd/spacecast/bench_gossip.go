package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spacecast/spacecast/bench/gossipbench"
)

// runBenchGossip is `spacecast bench gossip`: in-process gossip clusters on
// 127.0.0.1, join convergence, failure detection and idle traffic against N.
func runBenchGossip(ctx context.Context, e env, args []string) error {
	cfg := gossipbench.DefaultConfig()
	fs := newFlagSet(e, "bench gossip")
	fs.Func("sizes", "cluster `sizes`, comma-separated (default 10,50,200)", func(s string) error {
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
	fs.StringVar(&cfg.Profile, "profile", cfg.Profile, "gossip profile: lan, wan or local")
	fs.IntVar(&cfg.Joins, "joins", cfg.Joins, "joins measured per size")
	fs.IntVar(&cfg.Kills, "kills", cfg.Kills, "crashes measured per size")
	fs.DurationVar(&cfg.Idle, "idle", cfg.Idle, "idle traffic window per size")
	fs.BoolVar(&cfg.Encrypt, "encrypt", cfg.Encrypt, "encrypt gossip (as in production)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on each wait")
	out := fs.String("out", "", "write the JSON result to `file`")
	chart := fs.String("chart", "gossip-bench.svg", "write the SVG chart to `file` ('' for none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rep, err := gossipbench.Run(ctx, cfg, func(format string, a ...any) {
		fmt.Fprintf(e.stderr, format+"\n", a...)
	})
	if err != nil {
		return err
	}
	if err := gossipbench.Table(e.stdout, rep); err != nil {
		return err
	}
	write := func(path string, f func(*os.File) error) error {
		if path == "" {
			return nil
		}
		fh, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := f(fh); err != nil {
			_ = fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s\n", path)
		return nil
	}
	if err := write(*out, func(f *os.File) error { return gossipbench.JSON(f, rep) }); err != nil {
		return err
	}
	return write(*chart, func(f *os.File) error { return gossipbench.SVG(f, rep) })
}
