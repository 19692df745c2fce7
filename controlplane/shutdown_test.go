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
