// Command spacecast is the one binary of Spacecast: every role (control
// plane, edge, TURN, the all-in-one dev mode, the operator's admin tool and
// the bench harness) is a subcommand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// The first signal drains (cancels ctx); the second forces an exit.
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "spacecast: second signal, exiting now")
		os.Exit(2)
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	cancel()
	os.Exit(code)
}

// env is what a subcommand may touch of the process: nothing else is global.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"dev", "run control plane, edge and TURN in one process on an embedded store", runDev},
		{"controlplane", "run the control plane (REST API, tokens, placement) from a config file", runControlplane},
		{"edge", "run a media edge (SFU and TURN) from a config file", runEdge},
		{"turn", "run the TURN/STUN server alone from a config file", runTurn},
		{"admin", "operator tasks: API clients, signing keys", runAdmin},
		{"bench", "load-test a deployment (api, rooms, turn, gossip)", runBench},
		{"version", "print the version", runVersion},
	}
}

// errUsage marks a command line that could not be understood; the message has
// already been printed.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "spacecast %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "spacecast: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: spacecast <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'spacecast <command> -h' for a command's flags.")
}

// newFlagSet makes a flag set that reports errors to e.stderr and returns
// them instead of exiting.
func newFlagSet(e env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("spacecast "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseFlags parses args and maps a parse failure to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func runVersion(_ context.Context, e env, _ []string) error {
	fmt.Fprintln(e.stdout, "spacecast", version)
	return nil
}
