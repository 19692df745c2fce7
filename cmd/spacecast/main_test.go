package main

import (
	"testing"

	"go.uber.org/goleak"
)

// Every role started by these tests must stop all of its goroutines. The
// ignored ones are fasthttp's process-wide helpers: a date ticker started
// once, and a worker pool's cleaner that sleeps out its interval after the
// server has stopped. And memberlist's probe in flight at Shutdown, which
// waits out its ack timer (up to the probe interval) and then ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}
