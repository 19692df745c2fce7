package controlplane

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/controlplane/metrics"
	"github.com/spacecast/spacecast/controlplane/store/postgres"
)

// TestReadyzStoreUnreachable: a replica whose PostgreSQL stops answering
// (every server process stopped with SIGSTOP: a hung server or a cut
// network, where connections neither answer nor fail) reports not ready
// within its ping timeout and the check's cache time, and ready again once
// the server answers (SIGCONT); the store_up gauge follows.
func TestReadyzStoreUnreachable(t *testing.T) {
	srv := pg.Server(t)
	dsn := pg.DB(t)
	st, err := postgres.Open(ctxT(t), postgres.Config{DSN: dsn, MaxConns: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, envOpts{store: st, metrics: m})
	e.must(t, 200, "GET", "/readyz", "", nil)
	up := func() float64 { return series(t, reg)["spacecast_controlplane_store_up{}"] }
	if up() != 1 {
		t.Fatalf("store_up %v while ready", up())
	}

	stopped := signalTree(t, srv.PID(), syscall.SIGSTOP)
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			for _, pid := range append(stopped, pidsUnder(srv.PID())...) {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		}
	}
	t.Cleanup(resume) // the shared server must run again whatever happens
	took := within(t, 10*time.Second, "readyz 503 with the store stopped", func() bool {
		r := e.do(t, "GET", "/readyz", "", nil)
		return r.status == 503 && r.str(t, "code") == "not_ready"
	})
	if max := readyPingTimeout + readyCacheTTL + time.Second; took > max {
		t.Errorf("not ready only after %v, want within %v", took, max)
	}
	if up() != 0 {
		t.Errorf("store_up %v with the store stopped", up())
	}
	resume()
	within(t, 15*time.Second, "readyz 200 once the store answers again", func() bool {
		return e.do(t, "GET", "/readyz", "", nil).status == 200
	})
	if up() != 1 {
		t.Errorf("store_up %v once ready again", up())
	}
	if f := series(t, reg)["spacecast_controlplane_store_ping_failures_total{}"]; f < 1 {
		t.Errorf("%v failed pings counted", f)
	}
}

// signalTree sends sig to pid and every process under it (PostgreSQL's
// backends are the postmaster's children, each in its own process group)
// and returns them.
func signalTree(t *testing.T, pid int, sig syscall.Signal) []int {
	t.Helper()
	pids := append([]int{pid}, pidsUnder(pid)...)
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil && err != syscall.ESRCH {
			t.Fatalf("signal %d: %v", p, err)
		}
	}
	return pids
}

// pidsUnder lists the descendants of pid, from /proc.
func pidsUnder(pid int) []int {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after
		// its closing parenthesis.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		p, _ := strconv.Atoi(strings.Fields(s)[0])
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	var out []int
	for p := range parent {
		for q := parent[p]; q > 1; q = parent[q] {
			if q == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}
