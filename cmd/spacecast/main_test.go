package main

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/internal/pgtest"
)

// pg is the PostgreSQL server of this package's tests (started by the
// first test that needs it).
var pg pgtest.Shared

// Every role started by these tests must stop all of its goroutines. The
// ignored ones are fasthttp's process-wide helpers: a date ticker started
// once, and a worker pool's cleaner that sleeps out its interval after the
// server has stopped. And memberlist's probe in flight at Shutdown, which
// waits out its ack timer (up to the probe interval) and then ends.
func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	if code == 0 {
		if err := goleak.Find(
			goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
			goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
