package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
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
	target := fs.String("target", "ours", `servers to measure, comma-separated: "ours" (child spacecast turn), "coturn" (child turnserver), or "url"`)
	repeat := fs.Int("repeat", 1, "run the targets this many times, alternating (the machine's noise shows in the spread)")
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
	targets := strings.Split(*target, ",")
	for _, t := range targets {
		switch t {
		case "ours", "coturn":
		case "url":
			if *url == "" || secret == "" || len(targets) > 1 {
				fmt.Fprintf(e.stderr, "bench turn: --url needs a server address and %s, and no other target\n", cluster.EnvTURNSecrets)
				return errUsage
			}
		default:
			fmt.Fprintf(e.stderr, "bench turn: unknown target %q\n", t)
			return errUsage
		}
	}
	if secret == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		secret = hex.EncodeToString(b)
	}
	var report turnReport
	for range max(*repeat, 1) {
		for _, t := range targets {
			res, err := benchTurnOnce(ctx, t, benchTurnArgs{
				url: *url, pid: *pid, secret: secret, sockets: *sockets, turnserver: *turnserver,
				cfg: turnbench.Config{Allocations: *allocs, Payload: *payload, Rates: rates, Step: *step},
			}, e, log)
			if err != nil {
				return err
			}
			report.Runs = append(report.Runs, res)
			printTurnResult(e, res)
		}
	}
	report.summarize(targets)
	if len(targets) > 1 || *repeat > 1 {
		fmt.Fprintln(e.stdout, "\nmedians over runs:")
		fmt.Fprintf(e.stdout, "%-8s %18s %22s\n", "target", "saturation pkt/s", "CPU-µs/pkt at sat.")
		for _, sm := range report.Summary {
			fmt.Fprintf(e.stdout, "%-8s %18.0f %22.2f\n", sm.Target, sm.SaturationPPS, sm.CPUMicrosPerPacket)
		}
		if len(report.Summary) == 2 {
			a, b := report.Summary[0], report.Summary[1]
			fmt.Fprintf(e.stdout, "\n%10s %14s %14s %14s %14s %8s\n", "offered", a.Target+" pkt/s", b.Target+" pkt/s", a.Target+" µs/pkt", b.Target+" µs/pkt", "CPU ×")
			for i := range min(len(a.Steps), len(b.Steps)) {
				x, y := a.Steps[i], b.Steps[i]
				ratio := 0.0
				if y.ServerCPUMicros > 0 {
					ratio = x.ServerCPUMicros / y.ServerCPUMicros
				}
				fmt.Fprintf(e.stdout, "%10d %14.0f %14.0f %14.2f %14.2f %8.2f\n", x.OfferedPPS, x.DeliveredPPS, y.DeliveredPPS, x.ServerCPUMicros, y.ServerCPUMicros, ratio)
			}
		}
		if len(report.Summary) == 2 && report.Summary[1].SaturationPPS > 0 && report.Summary[1].CPUMicrosPerPacket > 0 {
			a, b := report.Summary[0], report.Summary[1]
			fmt.Fprintf(e.stdout, "ratio %s/%s: saturation %.2f×, CPU per packet %.2f×\n", a.Target, b.Target,
				a.SaturationPPS/b.SaturationPPS, a.CPUMicrosPerPacket/b.CPUMicrosPerPacket)
		}
	}
	if *out != "" {
		b, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil { //nolint:gosec // a report
			return err
		}
	}
	return nil
}

type benchTurnArgs struct {
	url, secret, turnserver string
	pid, sockets            int
	cfg                     turnbench.Config
}

// benchTurnOnce starts target (unless it is "url"), runs the steps, stops it.
func benchTurnOnce(ctx context.Context, target string, a benchTurnArgs, e env, log *slog.Logger) (turnbench.Result, error) {
	addr, serverPID := a.url, a.pid
	if target != "url" {
		var p *turnbench.Process
		var err error
		if target == "ours" {
			exe, xerr := os.Executable()
			if xerr != nil {
				return turnbench.Result{}, xerr
			}
			p, err = turnbench.SpawnOurs(ctx, exe, a.secret, a.sockets, e.stderr)
		} else {
			p, err = turnbench.SpawnCoturn(ctx, a.turnserver, a.secret, e.stderr)
		}
		if err != nil {
			return turnbench.Result{}, fmt.Errorf("start %s: %w", target, err)
		}
		defer p.Stop()
		addr, serverPID = p.Addr, p.PID
		log.Info("server started", "target", target, "addr", addr, "pid", serverPID)
	}
	cfg := a.cfg
	cfg.Server, cfg.ServerPID = addr, serverPID
	cfg.Username, cfg.Password = turn.Credential(a.secret, "bench", time.Now().Add(time.Hour))
	res, err := turnbench.Run(ctx, cfg, log)
	res.Target = target
	return res, err
}

func printTurnResult(e env, res turnbench.Result) {
	fmt.Fprintf(e.stdout, "TURN bench: %s at %s, %d allocations, %d-byte payloads\n", res.Target, res.Server, res.Allocations, res.Payload)
	fmt.Fprintf(e.stdout, "%10s %10s %12s %7s %9s %12s %12s\n", "offered", "sent/s", "delivered/s", "loss%", "srvCPU%", "srv µs/pkt", "gen µs/pkt")
	for _, s := range res.Steps {
		fmt.Fprintf(e.stdout, "%10d %10.0f %12.0f %7.2f %9.0f %12.2f %12.2f\n",
			s.OfferedPPS, s.SentPPS, s.DeliveredPPS, s.LossPercent, s.ServerCPUPercent, s.ServerCPUMicros, s.GeneratorCPUMicro)
	}
	fmt.Fprintf(e.stdout, "saturation: %.0f packets/s delivered, %.2f server CPU-µs per relayed packet\n\n", res.SaturationPPS, res.CPUMicrosPerPacket)
}

// turnReport is what --out writes: every run, and per target the medians.
type turnReport struct {
	Runs    []turnbench.Result `json:"runs"`
	Summary []turnSummary      `json:"summary"`
}

type turnSummary struct {
	Target             string  `json:"target"`
	Runs               int     `json:"runs"`
	SaturationPPS      float64 `json:"saturationPps"`
	CPUMicrosPerPacket float64 `json:"cpuMicrosPerPacket"`
	// Steps holds, per offered rate, the medians of delivered packets/s
	// and server CPU-µs per packet.
	Steps []turnbench.Step `json:"steps"`
}

func (r *turnReport) summarize(targets []string) {
	for _, t := range targets {
		var sat, cpu []float64
		for _, run := range r.Runs {
			if run.Target == t {
				sat = append(sat, run.SaturationPPS)
				cpu = append(cpu, run.CPUMicrosPerPacket)
			}
		}
		sm := turnSummary{Target: t, Runs: len(sat), SaturationPPS: median(sat), CPUMicrosPerPacket: median(cpu)}
		byRate := map[int][2][]float64{}
		var rates []int
		for _, run := range r.Runs {
			if run.Target != t {
				continue
			}
			for _, st := range run.Steps {
				v, seen := byRate[st.OfferedPPS]
				if !seen {
					rates = append(rates, st.OfferedPPS)
				}
				byRate[st.OfferedPPS] = [2][]float64{append(v[0], st.DeliveredPPS), append(v[1], st.ServerCPUMicros)}
			}
		}
		sort.Ints(rates)
		for _, rate := range rates {
			v := byRate[rate]
			sm.Steps = append(sm.Steps, turnbench.Step{OfferedPPS: rate, DeliveredPPS: median(v[0]), ServerCPUMicros: median(v[1])})
		}
		r.Summary = append(r.Summary, sm)
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
