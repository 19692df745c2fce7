package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spacecast/spacecast/bench/turnbench"
	"github.com/spacecast/spacecast/internal/cluster"
	"github.com/spacecast/spacecast/turn"
)

// runBenchTurn opens many allocations on a TURN server and relays traffic
// through it at increasing rates. By default it starts our server as a
// child process (`spacecast turn`) so that its CPU is measured apart from
// the generator's; --target coturn starts coturn's turnserver the same way;
// --url measures any running server (its CPU with --server-pid).
func runBenchTurn(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "bench turn")
	target := fs.String("target", "ours", `server to measure: "ours" (child spacecast turn), "coturn" (child turnserver) or "url"`)
	url := fs.String("url", "", "TURN server UDP host:port (implies --target url); secret from "+cluster.EnvTURNSecrets)
	pid := fs.Int("server-pid", 0, "with --url: the server process whose CPU is measured")
	allocs := fs.Int("allocations", 200, "allocations, each relaying both ways through one channel")
	payload := fs.Int("payload", 200, "payload bytes per packet")
	ratesFlag := fs.String("rates", "10000,20000,40000,60000,80000,100000,130000,160000,200000", "offered packets/s per step, both directions together")
	step := fs.Duration("step", 3*time.Second, "length of each step")
	sockets := fs.Int("udp-sockets", 0, "ours: SO_REUSEPORT UDP sockets (default GOMAXPROCS)")
	turnserver := fs.String("turnserver", "turnserver", "coturn: the turnserver binary")
	out := fs.String("out", "", "write the result as JSON to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *url != "" {
		*target = "url"
	}
	var rates []int
	for _, r := range strings.Split(*ratesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			fmt.Fprintf(e.stderr, "bench turn: bad rate %q\n", r)
			return errUsage
		}
		rates = append(rates, n)
	}
	log := slog.New(slog.NewTextHandler(e.stderr, nil)).With("component", "bench-turn")

	secret := ""
	if s := strings.Split(e.getenv(cluster.EnvTURNSecrets), ","); s[0] != "" {
		secret = strings.TrimSpace(s[0])
	}
	addr, serverPID := *url, *pid
	switch *target {
	case "ours", "coturn":
		if secret == "" {
			b := make([]byte, 24)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			secret = hex.EncodeToString(b)
		}
		var p *turnbench.Process
		var err error
		if *target == "ours" {
			exe, xerr := os.Executable()
			if xerr != nil {
				return xerr
			}
			p, err = turnbench.SpawnOurs(ctx, exe, secret, *sockets, e.stderr)
		} else {
			p, err = turnbench.SpawnCoturn(ctx, *turnserver, secret, e.stderr)
		}
		if err != nil {
			return fmt.Errorf("start %s: %w", *target, err)
		}
		defer p.Stop()
		addr, serverPID = p.Addr, p.PID
		log.Info("server started", "target", *target, "addr", addr, "pid", serverPID)
	case "url":
		if addr == "" || secret == "" {
			fmt.Fprintf(e.stderr, "bench turn: --url needs a server address and %s\n", cluster.EnvTURNSecrets)
			return errUsage
		}
	default:
		fmt.Fprintf(e.stderr, "bench turn: unknown --target %q\n", *target)
		return errUsage
	}

	user, pass := turn.Credential(secret, "bench", time.Now().Add(time.Hour))
	res, err := turnbench.Run(ctx, turnbench.Config{
		Server: addr, Username: user, Password: pass, ServerPID: serverPID,
		Allocations: *allocs, Payload: *payload, Rates: rates, Step: *step,
	}, log)
	res.Target = *target
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "TURN bench: %s at %s, %d allocations, %d-byte payloads\n", *target, addr, res.Allocations, res.Payload)
	fmt.Fprintf(e.stdout, "%10s %10s %12s %7s %9s %12s %12s\n", "offered", "sent/s", "delivered/s", "loss%", "srvCPU%", "srv µs/pkt", "gen µs/pkt")
	for _, s := range res.Steps {
		fmt.Fprintf(e.stdout, "%10d %10.0f %12.0f %7.2f %9.0f %12.2f %12.2f\n",
			s.OfferedPPS, s.SentPPS, s.DeliveredPPS, s.LossPercent, s.ServerCPUPercent, s.ServerCPUMicros, s.GeneratorCPUMicro)
	}
	fmt.Fprintf(e.stdout, "saturation: %.0f packets/s delivered, %.2f server CPU-µs per relayed packet\n", res.SaturationPPS, res.CPUMicrosPerPacket)
	if *out != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil { //nolint:gosec // a report
			return err
		}
	}
	return nil
}
