package ha

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/procattr"
)

// TestRollingRestartUnderLoad: `spacecast bench api` loads two replicas
// on one PostgreSQL database (GETs, token issues, single-use joins with
// their exactly-once checks) while each replica in turn is stopped with
// SIGTERM and started again. A stopping replica reports not ready, closes
// its connections after their current answer, finishes what is in flight
// and exits; the bench's client sends what a stopped replica would not take
// to the other one. Not one request fails.
func TestRollingRestartUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	aAddr, bAddr := w.freePort(), w.freePort()
	cfgA := w.controlPlaneConfig("a", aAddr, "127.0.0.1:9", "")
	cfgB := w.controlPlaneConfig("b", bAddr, "127.0.0.1:9", "")
	for _, c := range []string{cfgA, cfgB} { // the drain a load balancer needs
		b, _ := os.ReadFile(c)
		b = bytes.Replace(b, []byte("  drainDelay: 0s\n"), []byte("  drainDelay: 1s\n"), 1)
		if err := os.WriteFile(c, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a := w.start("a", aAddr, "controlplane", "--config", cfgA)
	b := w.start("b", bAddr, "controlplane", "--config", cfgB)
	w.ready("http://" + aAddr + "/readyz")
	w.ready("http://" + bAddr + "/readyz")
	var client struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal(w.admin(cfgA, "client", "create", "--name", "bench", "--json"), &client); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(w.dir, "bench.json")
	bench := exec.CommandContext(ctx, w.bin, "bench", "api", "--target", "http://"+aAddr, "--replicas", "http://"+bAddr,
		"--client-id", client.ClientID, "--ops", "get,token,join", "--connections", "16", "--duration", "3s", "--warmup", "200ms",
		"--sweep", "0.5", "--sweep-duration", "2s", "--max-links", "20000", "--out", out)
	bench.Env = append(os.Environ(), "SPACECAST_BENCH_CLIENT_SECRET="+client.ClientSecret)
	var benchOut bytes.Buffer
	bench.Stdout, bench.Stderr = &benchOut, &benchOut
	bench.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	benchDone := make(chan error, 1)
	go func() { benchDone <- bench.Wait() }()

	// Roll: each replica in turn, while the bench runs.
	time.Sleep(3 * time.Second)
	for _, p := range []*proc{a, b} {
		stopped := time.Now()
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("%s exited with %v after SIGTERM", p.name, err)
			}
			p.done <- nil
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not stop", p.name)
		}
		t.Logf("replica %s drained and stopped in %s", p.name, time.Since(stopped).Round(time.Millisecond))
		w.run(p)
		w.ready("http://" + p.addr + "/readyz")
		t.Logf("replica %s back after %s", p.name, time.Since(stopped).Round(time.Millisecond))
		time.Sleep(time.Second)
	}

	select {
	case err := <-benchDone:
		if err != nil {
			t.Fatalf("bench: %v\n%s", err, benchOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("bench did not finish\n%s", benchOut.String())
	}
	b2, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Metrics []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		} `json:"metrics"`
		Checks []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(b2, &res); err != nil {
		t.Fatal(err)
	}
	var failed []string
	failovers, requests := 0.0, 0.0
	for _, m := range res.Metrics {
		switch {
		case strings.HasSuffix(m.Name, "_errors") && m.Value != 0:
			failed = append(failed, fmt.Sprintf("%s=%v", m.Name, m.Value))
		case m.Name == "failovers":
			failovers = m.Value
		case strings.HasSuffix(m.Name, "_rps"):
			requests += m.Value
		}
	}
	for _, c := range res.Checks {
		if !c.OK {
			failed = append(failed, "check "+c.Name)
		}
	}
	if len(failed) > 0 {
		t.Fatalf("requests failed during the rolling restart: %v\n%s", failed, benchOut.String())
	}
	if failovers == 0 || requests == 0 {
		t.Fatalf("no request met a stopped replica (failovers %v): the restart did not happen under load\n%s", failovers, benchOut.String())
	}
	t.Logf("rolling restart under load: no failed request; %v requests went to the other replica", failovers)
}
