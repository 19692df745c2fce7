package main

import (
	"context"
	"fmt"
)

// benchScenario is one `spacecast bench` scenario.
type benchScenario struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func benchScenarios() []benchScenario {
	return []benchScenario{
		{"api", "REST load: token issue, room GET, room create, generate-access + join", runBenchAPI},
		{"rooms", "simulated participants publishing and subscribing through the edges", runBenchRooms},
		{"turn", "TURN relay: delivered packets/s and CPU per packet up to saturation (ours, coturn, or a running server)", runBenchTurn},
		{"gossip", "gossip join convergence, failure detection and idle traffic against N (or of a running cluster)", runBenchGossip},
		{"browser", "Chromium publisher and subscriber: freezes, fps, resolution, time to first frame, the wire (ours, livekit, side by side)", runBenchBrowser},
	}
}

func runBench(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stderr, "usage: spacecast bench <scenario> [flags]")
		fmt.Fprintln(e.stderr)
		for _, s := range benchScenarios() {
			fmt.Fprintf(e.stderr, "  %-8s %s\n", s.name, s.summary)
		}
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	for _, s := range benchScenarios() {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "spacecast bench: unknown scenario %q\n", args[0])
	return errUsage
}
