package apibench

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/selfhost"
)

// leakyServer speaks just enough of the API, but lets a link be joined any
// number of times: the bench must catch it.
func leakyServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		p := string(c.Path())
		c.SetContentType("application/json")
		switch {
		case p == "/v1/auth/token":
			c.SetBodyString(`{"token_type":"Bearer","access_token":"tok","refresh_token":"r"}`)
		case p == "/v1/users", p == "/v1/spaces", strings.HasSuffix(p, "/rooms"):
			c.SetStatusCode(201)
			c.SetBodyString(`{"id":"id1","alias":"abc"}`)
		case strings.HasSuffix(p, "/generate-access"):
			c.SetStatusCode(201)
			c.SetBodyString(`{"url":"x","accessToken":"link` + string(rune('a'+n.Add(1)%26)) + `"}`)
		case strings.HasSuffix(p, "/join"):
			c.SetBodyString(`{"identity":"g"}`) // never 410: not single-use
		default:
			c.SetBodyString(`{}`)
		}
	}}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(); <-done })
	return "http://" + ln.Addr().String()
}

func TestCatchesReusableLinks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := tiny(selfhost.Info{URL: leakyServer(t), ClientID: "c", ClientSecret: "s"})
	cfg.Ops = []string{"join"}
	cfg.SweepSteps = nil
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Run(ctx, progress.Discard())
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]bool{}
	for _, c := range r.FailedChecks() {
		failed[c.Name] = true
	}
	if !failed["second_join_410"] || !failed["exactly_once_concurrent"] || failed["first_join_succeeds"] {
		t.Fatalf("checks = %+v", r.Checks)
	}
}
