package controlplane

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/controlplane/metrics"
)

// Benchmarks drive the full server over a real loopback socket with
// fasthttp's client, in parallel. Compare BenchmarkGetRoom with
// BenchmarkBareFasthttp (the same client against a handler returning a
// fixed 200): go test -run X -bench . -benchmem ./controlplane

func hostClient(base string) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: strings.TrimPrefix(base, "http://"), MaxConns: 256}
}

func doFast(b *testing.B, hc *fasthttp.HostClient, method, uri, token string, body []byte, want int) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(uri)
	req.Header.SetMethod(method)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBody(body)
	}
	if err := hc.Do(req, resp); err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode() != want {
		b.Fatalf("%s %s = %d %s", method, uri, resp.StatusCode(), resp.Body())
	}
}

func BenchmarkBareFasthttp(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.SetContentType("application/json"); c.SetBodyString(`{"ok":true}`) }}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	defer func() { _ = srv.Shutdown(); <-done }()
	hc := hostClient("http://" + ln.Addr().String())
	uri := "http://" + ln.Addr().String() + "/v1/spaces/x/rooms/y"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			doFast(b, hc, "GET", uri, "", nil, 200)
		}
	})
}

func BenchmarkTokenIssue(b *testing.B) {
	e := start(b, envOpts{})
	cl := e.newClient(b, "bench")
	body := []byte(`{"grant_type":"client_credentials","client_id":"` + cl.clientID + `","client_secret":"` + cl.secret + `"}`)
	hc := hostClient(e.base)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			doFast(b, hc, "POST", e.base+"/v1/auth/token", "", body, 200)
		}
	})
}

func BenchmarkGetRoom(b *testing.B) { benchGetRoom(b, envOpts{}) }

// BenchmarkGetRoomObserved is BenchmarkGetRoom with what production runs
// on every request: the metrics and the access log (JSON at info, into a
// discarding writer): its ratio to BenchmarkGetRoom is their cost.
func BenchmarkGetRoomObserved(b *testing.B) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	benchGetRoom(b, envOpts{metrics: m, logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))})
}

func benchGetRoom(b *testing.B, o envOpts) {
	e := start(b, o)
	cl := e.newClient(b, "bench")
	u := e.newUser(b, cl, "bench@example.com")
	sp := e.must(b, 201, "POST", "/v1/spaces", u.userToken, map[string]any{"name": "s"}).str(b, "id")
	room := e.must(b, 201, "POST", "/v1/spaces/"+sp+"/rooms", u.userToken, map[string]any{"name": "r"}).str(b, "id")
	uri := e.base + "/v1/spaces/" + sp + "/rooms/" + room
	hc := hostClient(e.base)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			doFast(b, hc, "GET", uri, u.userToken, nil, 200)
		}
	})
}

// BenchmarkJoin redeems a fresh single-use link per operation (the links
// are generated before the timer starts).
func BenchmarkJoin(b *testing.B) { benchJoin(b, "nobody", 200) }

// BenchmarkJoinWaiting is BenchmarkJoin into a room where guests wait:
// each join reads its link's role, looks for a refusal, spends the link
// and stores a place in the waiting room (202).
func BenchmarkJoinWaiting(b *testing.B) { benchJoin(b, "guests", 202) }

func benchJoin(b *testing.B, audience string, want int) {
	e := start(b, envOpts{})
	cl := e.newClient(b, "bench")
	u := e.newUser(b, cl, "bench@example.com")
	sp := e.must(b, 201, "POST", "/v1/spaces", u.userToken, map[string]any{"name": "s"}).str(b, "id")
	rr := e.must(b, 201, "POST", "/v1/spaces/"+sp+"/rooms", u.userToken, map[string]any{"name": "r", "waitingRoomAudience": audience}).json(b)
	room, alias := rr["id"].(string), rr["alias"].(string)
	hc := hostClient(e.base)
	bodies := make([][]byte, b.N)
	genURI := e.base + "/v1/spaces/" + sp + "/rooms/" + room + "/generate-access"
	for i := range bodies {
		r := e.must(b, 200, "POST", genURI[len(e.base):], u.userToken, map[string]any{"username": "guest", "role": "user"})
		bodies[i] = []byte(`{"accessToken":"` + r.str(b, "accessToken") + `"}`)
	}
	joinURI := e.base + "/v1/rooms/" + alias + "/join"
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			doFast(b, hc, "POST", joinURI, "", bodies[next.Add(1)-1], want)
		}
	})
}
