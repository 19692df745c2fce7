package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/bench/report"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/bench/selfhost"
	"github.com/spacecast/spacecast/internal/testenv"
)

// envReexec makes the test binary act as the spacecast binary: the bench
// starts its self-contained control plane and its agents as child
// processes of os.Executable(), which is this test binary under go test.
const envReexec = "SPACECAST_TEST_REEXEC_MAIN"

func init() {
	if os.Getenv(envReexec) == "1" {
		ctx, cancel := context.WithCancel(context.Background())
		code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		cancel()
		os.Exit(code)
	}
}

// runCmd runs the spacecast command line in this process.
func benchCmd(t *testing.T, ctx context.Context, getenv func(string) string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, getenv, strings.NewReader(""), &out, &errb)
	return code, out.String() + errb.String()
}

func readResult(t *testing.T, path string) *result.Result {
	t.Helper()
	r, err := result.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBenchAPISelfContained(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a control plane under load")
	}
	t.Setenv(envReexec, "1") // for the child control plane only: init ran already here
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	first := filepath.Join(dir, "first.json")
	tiny := []string{"bench", "api", "--connections", "4", "--duration", "300ms", "--warmup", "100ms", "--sweep", "0.5,1", "--sweep-duration", "300ms", "--max-links", "300"}

	code, out := benchCmd(t, ctx, os.Getenv, append(tiny, "--out", first, "--html", filepath.Join(dir, "api.html"), "--slo", "get_p99<10s,join_p99<10s")...)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	r := readResult(t, first)
	if !r.Meta.SelfContained || r.Meta.CPUs < 1 {
		t.Errorf("meta = %+v", r.Meta)
	}
	for _, name := range []string{"baseline_rps", "get_rps", "token_rps", "room_create_rps", "join_rps", "get_max_rps"} {
		if v, _, err := r.Lookup(name); err != nil || v <= 0 || v > 1e7 {
			t.Errorf("%s = %v (%v), want a plausible rate", name, v, err)
		}
	}
	for _, name := range []string{"get_p50", "get_p99", "token_p99", "join_p99", "get_p99_at_half_max"} {
		if v, _, err := r.Lookup(name); err != nil || v <= 0 || v > 10_000 {
			t.Errorf("%s = %v ms (%v), want a plausible latency", name, v, err)
		}
	}
	if v, _, _ := r.Lookup("get_baseline_ratio"); v <= 0 || v > 2 {
		t.Errorf("get_baseline_ratio = %v", v)
	}
	if len(r.Resources.Servers) != 1 || r.Resources.Servers[0].Source != "/proc" || r.Resources.Servers[0].RSSMaxBytes < 1<<20 {
		t.Errorf("server usage not read from the child's /proc: %+v", r.Resources.Servers)
	}
	if len(r.FailedChecks()) != 0 {
		t.Errorf("failed checks: %+v", r.FailedChecks())
	}
	if !strings.Contains(out, "all 2 objectives met") {
		t.Errorf("summary lacks the SLO verdict:\n%s", out)
	}
	renderReport(t, filepath.Join(dir, "api.html"), "bench-api")

	t.Run("slo broken exits non-zero", func(t *testing.T) {
		code, out := benchCmd(t, ctx, os.Getenv, append(tiny, "--ops", "get", "--sweep", "none", "--slo", "get_rps>1000000000/s")...)
		if code == 0 || !strings.Contains(out, "BROKEN get_rps>1000000000/s") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("bad slo fails before the run", func(t *testing.T) {
		code, out := benchCmd(t, ctx, os.Getenv, append(tiny, "--slo", "get_p99<5parsecs")...)
		if code == 0 || !strings.Contains(out, "unknown unit") || strings.Contains(out, "baseline GET") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("compare prints ratios", func(t *testing.T) {
		code, out := benchCmd(t, ctx, os.Getenv, append(tiny, "--ops", "get", "--sweep", "none", "--compare", first)...)
		if code != 0 || !strings.Contains(out, "compared with api run") || !strings.Contains(out, "x ") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "get_rps") && strings.Contains(line, "x") {
				return
			}
		}
		t.Fatalf("no get_rps ratio line:\n%s", out)
	})
	t.Run("against a running deployment", func(t *testing.T) {
		// A control plane the bench did not start: its URL and a client
		// id on the command line, the client secret in the environment.
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, exe, "bench", "api", "--serve", "--data", t.TempDir())
		child, err := selfhost.Start(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = child.Stop() }()
		remote := []string{"bench", "api", "--target", child.URL, "--client-id", child.ClientID, "--connections", "2",
			"--duration", "200ms", "--warmup", "0s", "--ops", "get", "--sweep", "none"}
		withSecret := func(k string) string {
			if k == envBenchSecret {
				return child.ClientSecret
			}
			return os.Getenv(k)
		}
		out := filepath.Join(t.TempDir(), "remote.json")
		code, text := benchCmd(t, ctx, withSecret, append(remote, "--out", out)...)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, text)
		}
		r := readResult(t, out)
		if r.Meta.SelfContained || r.Meta.Target != child.URL {
			t.Errorf("meta %+v", r.Meta)
		}
		if v, _, err := r.Lookup("get_rps"); err != nil || v <= 0 {
			t.Errorf("get_rps = %v (%v)", v, err)
		}
		noSecret := func(k string) string {
			if k == envBenchSecret {
				return ""
			}
			return os.Getenv(k)
		}
		if code, text := benchCmd(t, ctx, noSecret, remote...); code == 0 || !strings.Contains(text, envBenchSecret) {
			t.Fatalf("ran without the client secret: exit %d:\n%s", code, text)
		}
	})
	t.Run("scenario file", func(t *testing.T) {
		sc := filepath.Join(dir, "api.yaml")
		out2 := filepath.Join(dir, "file.json")
		if err := os.WriteFile(sc, []byte("scenario: api\nconnections: 2\nduration: 200ms\nops: [get]\nsweepSteps: []\nout: "+out2+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out := benchCmd(t, ctx, os.Getenv, "bench", "api", "--scenario", sc)
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		var cfg struct {
			Connections int `json:"connections"`
		}
		b, _ := json.Marshal(readResult(t, out2).Config)
		if err := json.Unmarshal(b, &cfg); err != nil || cfg.Connections != 2 {
			t.Fatalf("config in result = %s", b)
		}
		if err := os.WriteFile(sc, []byte("scenario: api\nconections: 2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out := benchCmd(t, ctx, os.Getenv, "bench", "api", "--scenario", sc); code == 0 || !strings.Contains(out, "conections") {
			t.Fatalf("unknown key accepted: exit %d:\n%s", code, out)
		}
	})
}

// envArtifacts names a folder where renderReport keeps the screenshots
// (CI uploads it).
const envArtifacts = "BENCH_ARTIFACTS"

// renderReport opens a bench HTML report in headless Chromium, checks that
// the screenshot holds a drawn page (text, bars, lines: many colours), and
// keeps it as <name>.png in $BENCH_ARTIFACTS when that is set. Without
// chromium it fails in CI and only logs elsewhere.
func renderReport(t *testing.T, page, name string) {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if testenv.InCI() {
			t.Fatal("chromium is required in CI")
		}
		t.Log("chromium missing: report not rendered")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	shot := filepath.Join(t.TempDir(), name+".png")
	if err := report.Screenshot(ctx, bin, page, shot, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	colors := map[uint32]bool{}
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y += 3 {
		for x := bnd.Min.X; x < bnd.Max.X; x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	if bnd.Dx() < 800 || len(colors) < 20 {
		t.Fatalf("screenshot of %s: %dx%d with %d colours, not a rendered report", page, bnd.Dx(), bnd.Dy(), len(colors))
	}
	if dir := os.Getenv(envArtifacts); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil { //nolint:gosec // an artifact
			t.Fatal(err)
		}
	}
}
