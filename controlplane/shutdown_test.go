package controlplane

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestGracefulShutdown: cancelling Run's context lets an in-flight request
// finish, then Run returns nil.
func TestGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	page := func(c *fasthttp.RequestCtx) {
		if string(c.Path()) == "/room/slow" {
			close(entered)
			<-release
		}
		c.SetBodyString("page")
	}
	e := start(t, envOpts{page: page})
	e.must(t, 200, "GET", "/room/fast", "", nil)
	got := make(chan reply, 1)
	go func() { got <- e.do(t, "GET", "/room/slow", "", nil) }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("slow request never arrived")
	}
	e.stop()
	close(release)
	select {
	case r := <-got:
		if r.status != 200 || string(r.body) != "page" {
			t.Fatalf("in-flight request: %d %s", r.status, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request did not finish")
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
	e.done <- nil // for the cleanup
}

// TestDrain: when Run's context ends the replica reports not ready at
// once, keeps serving for DrainDelay (each answer closing its connection,
// so that kept-alive clients go elsewhere), then stops accepting.
func TestDrain(t *testing.T) {
	e := start(t, envOpts{mutate: func(c *Config) { c.DrainDelay = 700 * time.Millisecond }})
	e.must(t, 200, "GET", "/readyz", "", nil)
	r := e.do(t, "GET", "/healthz", "", nil)
	if r.close {
		t.Fatal("a serving replica closes connections")
	}
	stopped := time.Now()
	e.stop()
	var ready reply
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ready = e.do(t, "GET", "/readyz", "", nil); ready.status == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d after the stop", ready.status)
		}
		time.Sleep(5 * time.Millisecond) // polling
	}
	if since := time.Since(stopped); since > 300*time.Millisecond {
		t.Fatalf("not ready only after %s", since)
	}
	if ready.str(t, "code") != "draining" {
		t.Fatalf("readyz while draining: %s", ready.body)
	}
	// Still serving, each answer closing its connection.
	r = e.must(t, 200, "GET", "/healthz", "", nil)
	if !r.close {
		t.Fatalf("a draining replica keeps connections open: %v", r.header)
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(stopped); d < 700*time.Millisecond {
			t.Fatalf("stopped after %s, before the drain delay", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the drain delay")
	}
	e.done <- nil // for the cleanup
	if _, err := e.hc.Get(e.base + "/healthz"); err == nil {
		t.Fatal("still accepting after the drain")
	}
}
