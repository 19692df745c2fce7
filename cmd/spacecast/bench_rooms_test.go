package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/roomsbench"
	"github.com/spacecast/spacecast/bench/scenario"
	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/procattr"
	"github.com/spacecast/spacecast/internal/testenv"
)

// agentsTest prepares a test whose SDK participants (and whatever else the
// test binary re-executes as) run in network namespaces: skipped with
// -short, failed in CI without namespaces, and bounded by d.
func agentsTest(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("runs SDK participants in network namespaces")
	}
	testenv.Need(t, "network namespaces", netns.Available())
	t.Setenv(envReexec, "1") // the agents are this test binary
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// benchRooms runs `spacecast bench rooms` (args from "bench") with --out
// and returns its result, exit code and output; no result is fatal.
func benchRooms(t *testing.T, ctx context.Context, getenv func(string) string, args ...string) (*result.Result, int, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "r.json")
	code, text := benchCmd(t, ctx, getenv, append(slices.Clip(args), "--out", out)...)
	r, err := result.Read(out)
	if err != nil {
		t.Fatalf("no result (exit %d): %v\n%s", code, err, text)
	}
	return r, code, text
}

// cutShows checks a run with a cut (and --slo loss_max<1%) failed that
// objective and shows the loss.
func cutShows(t *testing.T, r *result.Result, code int, out string) {
	t.Helper()
	if code == 0 || !strings.Contains(out, "BROKEN loss_max<1%") {
		t.Fatalf("a cut passed loss_max<1%%: exit %d:\n%s", code, out)
	}
	if v, _, _ := r.Lookup("loss_max"); v < 5 {
		t.Errorf("loss_max = %v%%, want the cut to show", v)
	}
}

// TestBenchRoomsRegions runs the multi-region scenario at its smallest:
// two regions 30 ms apart, a publisher in a, two subscribers in b, 8 s. The
// region pairs table must show the pair a → b with every track received,
// media on the relay link from a to b, and a one-way delay and a join →
// first media above the injected delay.
func TestBenchRoomsRegions(t *testing.T) {
	ctx := agentsTest(t, 3*time.Minute)
	const delay = 30 * time.Millisecond
	r, code, text := benchRooms(t, ctx, os.Getenv, "bench", "rooms", "--rooms", "1", "--regions", "a:1:1:0,b:1:0:2",
		"--link-delay", delay.String(), "--link-jitter", "1ms", "--duration", "15s") // a room spanning edges took over 8 s to join up under the whole suite on 2 cores
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, text)
	}
	var pairs *result.Table
	for i := range r.Tables {
		if r.Tables[i].Name == "region pairs" {
			pairs = &r.Tables[i]
		}
	}
	if pairs == nil {
		t.Fatalf("no region pairs table:\n%s", text)
	}
	col := func(name string) int {
		i := slices.Index(pairs.Columns, name)
		if i < 0 {
			t.Fatalf("no column %q in %v", name, pairs.Columns)
		}
		return i
	}
	var ab *result.TableRow
	for i := range pairs.Rows {
		if pairs.Rows[i].Label == "a → b" {
			ab = &pairs.Rows[i]
		}
	}
	if ab == nil {
		t.Fatalf("no row a → b in %+v", pairs.Rows)
	}
	ms := float64(delay.Milliseconds())
	for _, c := range []struct {
		col string
		min float64
	}{
		{"subscriber tracks", 4}, // camera + microphone, two subscribers
		{"relay kbps", 1},
		{"relay kbps per track", 0.5},
		{"owd p50 ms", ms},
		{"owd p99 ms", ms},
		{"first media p50 ms", ms},
	} {
		if v := ab.Values[col(c.col)]; v < c.min {
			t.Errorf("a → b %s = %v, want at least %v", c.col, v, c.min)
		}
	}
	if v, _, err := r.Lookup("pair_a_b_owd_p50"); err != nil || v < ms {
		t.Errorf("pair_a_b_owd_p50 = %v (%v), want above the %v link", v, err, delay)
	}
}

func TestBenchRoomsSelfContained(t *testing.T) {
	ctx := agentsTest(t, 3*time.Minute)
	dir := t.TempDir()
	// One room of four, two publishing (simulcast VP8 + Opus), over two agents.
	tiny := []string{"bench", "rooms", "--rooms", "1", "--participants", "4", "--publishers", "2", "--agents", "2", "--duration", "5s"}

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, r *result.Result, code int, out string)
	}{
		{
			name: "clean run",
			args: []string{"--html", filepath.Join(dir, "rooms.html"), "--slo", "join_p99<5s,loss<5%"},
			check: func(t *testing.T, r *result.Result, code int, out string) {
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				if v, _, _ := r.Lookup("joined"); v != 4 {
					t.Errorf("joined = %v, want 4", v)
				}
				if v, _, _ := r.Lookup("tracks_received"); v != 12 { // 2 publishers x (camera + mic) x 3 others
					t.Errorf("tracks_received = %v, want 12", v)
				}
				for _, name := range []string{"join_rest_p50", "join_p99", "first_rtp_p99", "owd_p50"} {
					if v, _, err := r.Lookup(name); err != nil || v <= 0 || v > 5000 {
						t.Errorf("%s = %v ms (%v)", name, v, err)
					}
				}
				if v, _, _ := r.Lookup("subscriber_bitrate"); v < 20e3 || v > 50e6 {
					t.Errorf("subscriber_bitrate = %v bps", v)
				}
				if v, _, err := r.Lookup("jitter"); err != nil || v < 0 || v > 500 {
					t.Errorf("jitter = %v (%v)", v, err)
				}
				if len(r.Resources.Servers) != 1 || r.Resources.Generator.Samples == 0 {
					t.Errorf("resources = %+v", r.Resources)
				}
				renderReport(t, filepath.Join(dir, "rooms.html"), "bench-rooms")
			},
		},
		{
			// Agent 1 (participants 2 and 4, one of them publishing) loses
			// its link for 1.5 s: the report must show the loss.
			name: "cut agent loses packets",
			args: []string{"--cut", "1:1500ms:1500ms", "--slo", "loss_max<1%"},
			check: func(t *testing.T, r *result.Result, code int, out string) {
				cutShows(t, r, code, out)
				var peak float64
				for _, s := range r.Series {
					if strings.HasPrefix(s.Name, "loss") {
						for _, p := range s.Points {
							peak = max(peak, p.V)
						}
					}
				}
				if peak < 10 {
					t.Errorf("loss over time peaks at %v%%, want the cut visible", peak)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, code, text := benchRooms(t, ctx, os.Getenv, slices.Concat(tiny, tt.args)...)
			tt.check(t, r, code, text)
		})
	}
}

// TestBenchRoomsDirect runs the participants straight against a
// LiveKit-protocol server (here an edge in this process, listening on a
// bridge of the test's own) with tokens signed from the environment, the
// way the bench measures livekit-server side by side with an edge.
func TestBenchRoomsDirect(t *testing.T) {
	ctx := agentsTest(t, 3*time.Minute)
	url, cl := directEdge(t, ctx)
	key := cl.SigningKey
	getenv := func(secret string) func(string) string {
		return func(k string) string {
			switch k {
			case envBenchLKKey:
				return key
			case envBenchLKSecret:
				return secret
			}
			return os.Getenv(k)
		}
	}
	// One publisher (600 kbps VP8 + Opus), two subscribers.
	tiny := []string{"bench", "rooms", "--livekit-url", url, "--rooms", "1", "--participants", "3", "--publishers", "1", "--agents", "1",
		"--simulcast=false", "--video-kbps", "600", "--spread", "100ms"}
	steady := func(t *testing.T, r *result.Result, code int, out string) {
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		if v, _, _ := r.Lookup("tracks_received"); v != 4 {
			t.Errorf("tracks_received = %v, want 4 (camera + mic to two subscribers):\n%s", v, out)
		}
		if v, _, err := r.Lookup("subscriber_bitrate"); err != nil || v < 400e3 || v > 2e6 {
			t.Errorf("subscriber_bitrate = %v bps (%v), want about 600 kbps + audio", v, err)
		}
		if v, _, err := r.Lookup("first_rtp_p50"); err != nil || v <= 0 || v > 10000 {
			t.Errorf("first_rtp_p50 = %v ms (%v)", v, err)
		}
		if _, _, err := r.Lookup("join_rest_p50"); err == nil {
			t.Error("a direct run reports a REST join latency")
		}
		if v, _, err := r.Lookup("forwarded_pps"); err != nil || v < 100 {
			t.Errorf("forwarded_pps = %v (%v), want two subscribers' worth of video + audio", v, err)
		}
		if v, _, err := r.Lookup("server_cpu_us_per_packet"); err != nil || v <= 0 {
			t.Errorf("server_cpu_us_per_packet = %v (%v)", v, err)
		}
		if _, _, err := r.Lookup("server_rss_per_subscriber"); err != nil {
			t.Error(err)
		}
		want := fmt.Sprintf("pid %d", os.Getpid())
		if len(r.Resources.Servers) != 1 || !strings.Contains(r.Resources.Servers[0].Name, want) || r.Resources.Servers[0].RSSBytes <= 0 {
			t.Errorf("servers = %+v, want this process (%s) read from /proc", r.Resources.Servers, want)
		}
	}
	tests := []struct {
		name   string
		secret string
		args   []string
		check  func(t *testing.T, r *result.Result, code int, out string)
	}{
		{name: "server found by its port", secret: cl.APIKeys[key], args: []string{"--duration", "8s"}, check: steady},
		{name: "server given by pid", secret: cl.APIKeys[key], args: []string{"--duration", "8s", "--server-pid", fmt.Sprint(os.Getpid())}, check: steady},
		{
			name: "foreign secret", secret: "not-the-edge-secret-not-the-edge-secret", args: []string{"--duration", "2s"},
			check: func(t *testing.T, r *result.Result, code int, out string) {
				if v, _, _ := r.Lookup("joined"); v != 0 {
					t.Errorf("joined = %v with tokens the edge cannot verify", v)
				}
				if v, _, _ := r.Lookup("join_errors"); v != 3 {
					t.Errorf("join_errors = %v, want 3", v)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, code, text := benchRooms(t, ctx, getenv(tt.secret), slices.Concat(tiny, tt.args)...)
			tt.check(t, r, code, text)
		})
	}
}

// directEdge runs an edge on the gateway of a bridge the test makes, and
// returns its signalling URL and cluster keys.
func directEdge(t *testing.T, ctx context.Context) (string, clusterkey.Config) {
	t.Helper()
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	gw := n.Gateway().String()
	sig, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp4", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := edge.DefaultConfig()
	cfg.Listen = sig.Addr().String()
	cfg.PublicURL = "ws://" + sig.Addr().String()
	cfg.RTC.Interfaces = []string{n.BridgeName()}
	e, err := edge.New(cfg, edge.Deps{Cluster: cl, UDP: udp, Signal: sig})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("edge: %v", err)
		}
	})
	return cfg.PublicURL, cl
}

// TestBenchRoomsDev is the load tester's path: `spacecast dev` (a child
// process, every port ephemeral), then `bench rooms --dev DIR` against it
// on loopback: the agents run in namespaces and reach dev through the
// loopback bridge; dev's CPU and memory come from /proc. A cut through the
// bridge must show as loss.
func TestBenchRoomsDev(t *testing.T) {
	ctx := agentsTest(t, 2*time.Minute)
	data := t.TempDir()
	devPID := startDevProcess(t, data)
	getenv := func(k string) string {
		if k == envBenchSecret {
			return "" // the secret comes from dev's data folder
		}
		return os.Getenv(k)
	}
	// One publisher (VP8 + Opus), two subscribers, over two agents.
	tiny := []string{"bench", "rooms", "--dev", data, "--rooms", "1", "--participants", "3", "--publishers", "1", "--agents", "2",
		"--simulcast=false", "--video-kbps", "300", "--duration", "4s", "--spread", "100ms"}
	html := filepath.Join(t.TempDir(), "rooms-dev.html")
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, r *result.Result, code int, out string)
	}{
		{
			name: "through the bridge",
			args: []string{"--html", html, "--slo", "loss<2%"},
			check: func(t *testing.T, r *result.Result, code int, out string) {
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				if !strings.Contains(out, "this machine's loopback") {
					t.Errorf("the run does not say it bridges loopback:\n%s", out)
				}
				if v, _, _ := r.Lookup("joined"); v != 3 {
					t.Errorf("joined = %v, want 3", v)
				}
				got, _, _ := r.Lookup("tracks_received")
				want, _, _ := r.Lookup("tracks_expected")
				if want != 4 || got != want { // camera + mic to two subscribers
					t.Errorf("tracks_received = %v, tracks_expected = %v, want 4 and 4", got, want)
				}
				for _, name := range []string{"join_rest_p50", "join_p50", "first_rtp_p50"} {
					if v, _, err := r.Lookup(name); err != nil || v <= 0 || v > 10000 {
						t.Errorf("%s = %v ms (%v)", name, v, err)
					}
				}
				if v, _, err := r.Lookup("loss"); err != nil || v > 2 {
					t.Errorf("loss = %v%% (%v)", v, err)
				}
				if v, _, _ := r.Lookup("bridge_udp_packets"); v < 100 {
					t.Errorf("bridge_udp_packets = %v: the media did not go through the bridge", v)
				}
				if v, _, _ := r.Lookup("bridge_dropped"); v != 0 {
					t.Errorf("bridge_dropped = %v in a clean run", v)
				}
				pid := fmt.Sprintf("pid %d", devPID)
				if len(r.Resources.Servers) != 1 || !strings.Contains(r.Resources.Servers[0].Name, pid) || r.Resources.Servers[0].RSSBytes <= 0 {
					t.Errorf("servers = %+v, want spacecast dev (%s) read from /proc", r.Resources.Servers, pid)
				}
				if r.Resources.Generator.Samples == 0 {
					t.Errorf("generator usage not sampled: %+v", r.Resources.Generator)
				}
				for _, w := range r.Warnings {
					if strings.Contains(w, "loopback bridge") {
						t.Errorf("warning: %s", w)
					}
				}
				renderReport(t, html, "bench-rooms-dev")
			},
		},
		{
			// Agent 1 (participant 2, a subscriber) is cut off by the
			// bridge for 1.5 s.
			name: "cut through the bridge",
			args: []string{"--cut", "1:1500ms:1500ms", "--slo", "loss_max<1%"},
			check: func(t *testing.T, r *result.Result, code int, out string) {
				cutShows(t, r, code, out)
				if v, _, _ := r.Lookup("bridge_dropped"); v < 10 {
					t.Errorf("bridge_dropped = %v, want the cut's packets", v)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, code, text := benchRooms(t, ctx, getenv, slices.Concat(tiny, tt.args)...)
			tt.check(t, r, code, text)
		})
	}
}

// startDevProcess starts `spacecast dev` (this test binary) on 127.0.0.1
// with ephemeral ports, waits until it serves, and stops it at cleanup.
func startDevProcess(t *testing.T, data string) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "dev", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), envReexec+"=1")
	logPath := filepath.Join(t.TempDir(), "dev.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
				close(ready)
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { <-drained; done <- cmd.Wait() }()
		select {
		case err := <-done:
			// The re-executed test binary does not catch SIGINT (main
			// does): killed by it is a clean stop here.
			var ee *exec.ExitError
			if err != nil && !(errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT) {
				b, _ := os.ReadFile(logPath)
				t.Errorf("spacecast dev: %v\n%s", err, b)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("spacecast dev did not stop on SIGINT")
		}
	})
	select {
	case <-ready:
	case <-drained:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("spacecast dev exited before serving:\n%s", b)
	case <-time.After(30 * time.Second):
		t.Fatal("spacecast dev did not start in 30 s")
	}
	return cmd.Process.Pid
}

func TestBenchDev(t *testing.T) {
	full := devClientCreds{ClientID: "cid", ClientSecret: "file-secret", APIURL: "http://127.0.0.1:41000", EdgeURL: "ws://127.0.0.1:41001", RTCPort: 41002,
		TURNURLs: []string{"turn:127.0.0.1:41003?transport=udp", "turn:127.0.0.1:41003?transport=tcp", "turns:127.0.0.1:41004?transport=tcp"}}
	old := devClientCreds{ClientID: "cid", ClientSecret: "file-secret"}
	tests := []struct {
		name  string
		file  *devClientCreds // nil: no file
		given func(*roomsbench.Config)
		want  roomsbench.Config // Target, ClientID, ClientSecret, LoopbackPorts
		err   bool
	}{
		{name: "current file", file: &full, want: roomsbench.Config{
			Common:        scenario.Common{Target: "http://127.0.0.1:41000", ClientID: "cid"},
			ClientSecret:  "file-secret",
			LoopbackPorts: "tcp:41001,udp:41002,udp:41003,tcp:41003,tcp:41004",
		}},
		{name: "file of an older dev", file: &old, want: roomsbench.Config{
			Common: scenario.Common{Target: "http://127.0.0.1:8080", ClientID: "cid"}, ClientSecret: "file-secret",
		}},
		{name: "secret from the environment wins", file: &full, given: func(c *roomsbench.Config) { c.ClientSecret = "env-secret" }, want: roomsbench.Config{
			Common:        scenario.Common{Target: "http://127.0.0.1:41000", ClientID: "cid"},
			ClientSecret:  "env-secret",
			LoopbackPorts: "tcp:41001,udp:41002,udp:41003,tcp:41003,tcp:41004",
		}},
		{name: "flags win", file: &full, given: func(c *roomsbench.Config) {
			c.Target, c.ClientID, c.LoopbackPorts = "http://127.0.0.1:9000", "other", "tcp:1"
		}, want: roomsbench.Config{
			// Another client: the file's secret is not its.
			Common: scenario.Common{Target: "http://127.0.0.1:9000", ClientID: "other"}, LoopbackPorts: "tcp:1",
		}},
		{name: "dev on every address", file: &devClientCreds{ClientID: "cid", ClientSecret: "s", APIURL: "http://0.0.0.0:8080"}, want: roomsbench.Config{
			Common: scenario.Common{Target: "http://127.0.0.1:8080", ClientID: "cid"}, ClientSecret: "s",
		}},
		{name: "no file", err: true},
		{name: "not a TURN URL", file: &devClientCreds{ClientID: "cid", ClientSecret: "s", EdgeURL: "ws://127.0.0.1:41001", TURNURLs: []string{"stun:127.0.0.1:41003"}}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.file != nil {
				b, _ := json.Marshal(tt.file)
				if err := os.WriteFile(filepath.Join(dir, devClientFile), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var c roomsbench.Config
			if tt.given != nil {
				tt.given(&c)
			}
			err := benchDev(&c, dir)
			if tt.err {
				if !errors.Is(err, errDevFile) {
					t.Fatalf("benchDev = %v, want errDevFile", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Target != tt.want.Target || c.ClientID != tt.want.ClientID || c.ClientSecret != tt.want.ClientSecret || c.LoopbackPorts != tt.want.LoopbackPorts {
				t.Fatalf("got target %q client %q secret %q ports %q\nwant target %q client %q secret %q ports %q",
					c.Target, c.ClientID, c.ClientSecret, c.LoopbackPorts, tt.want.Target, tt.want.ClientID, tt.want.ClientSecret, tt.want.LoopbackPorts)
			}
		})
	}
}
