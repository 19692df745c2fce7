package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/metrics"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/removal"
	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/sqlite"
	"github.com/spacecast/spacecast/internal/blob"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/pgtest"
)

// pg is the PostgreSQL server of the multi-replica tests (started by the
// first test that needs it).
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	if code != 0 {
		os.Exit(code)
	}
	if err := goleak.Find(
		// fasthttp's once-per-process Date header ticker.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// fasthttp's idle-worker cleaner notices Stop only after its sleep
		// (MaxIdleWorkerDuration); it then exits.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		// The benchmarks' fasthttp client: its idle-connection cleaner and
		// the process-wide default dialer's address cache cleaner.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean")); err != nil {
		fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// testEdge is the edge the static placer answers in these tests.
var testEdge = placement.Placement{NodeID: "edge-1", Region: "local", SignalURL: "ws://127.0.0.1:7880",
	TURNURLs: []string{"turn:127.0.0.1:3478?transport=udp"}}

// env is one control plane on 127.0.0.1:0 over a fresh SQLite store.
type env struct {
	t       *testing.T
	stop    context.CancelFunc
	done    chan error
	base    string
	srv     *Server
	st      store.Store
	cluster clusterkey.Config
	hc      *http.Client
}

type envOpts struct {
	mutate   func(*Config)
	placer   placement.Placer
	page     fasthttp.RequestHandler
	internal fasthttp.RequestHandler
	logger   *slog.Logger
	// store, when set, is the store to serve (another replica's, say);
	// the caller closes it. Default: a fresh SQLite store.
	store store.Store
	// cluster, when set, are the cluster secrets (replicas share them).
	cluster *clusterkey.Config
	// revocations, when set, carries removals (a fleet's, say).
	revocations removal.Revocations
	// storage, when set, makes the recordings' storage for the public
	// URL (download links point there); it is served at /files/.
	storage func(publicURL string) *blob.Local
	// metrics, when set, counts requests and the store's operations.
	metrics *metrics.Metrics
}

func start(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := o.store
	if st == nil {
		s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "spacecast.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		st = s
	}
	var cl clusterkey.Config
	if o.cluster != nil {
		cl = *o.cluster
	} else {
		var err error
		if cl, err = clusterkey.Generate(); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PublicURL = "http://" + ln.Addr().String()
	cfg.RateLimit = cfg.RateLimit.Disabled() // tests that need limits set them
	cfg.DrainDelay = 0                       // no load balancer to wait for
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	if o.placer == nil {
		o.placer = placement.Static{Edge: testEdge}
	}
	deps := Deps{Store: o.metrics.Store(st), Cluster: cl, Placer: o.placer, Page: o.page, Internal: o.internal, Logger: o.logger,
		Revocations: o.revocations, Metrics: o.metrics}
	if o.storage != nil {
		l := o.storage(cfg.PublicURL)
		deps.Recordings, deps.Files = l, l.Handler()
	}
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	e := &env{stop: cancel, done: done, base: cfg.PublicURL, srv: srv, st: st, cluster: cl, hc: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	t.Cleanup(func() {
		cancel()
		if done != nil {
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return")
			}
		}
		tr.CloseIdleConnections()
	})
	// Ready once /readyz answers (Run initialises the keys first).
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := e.hc.Get(e.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return e
}

// reply is one HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
	close  bool // the server closes the connection after it
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (r reply) str(t testing.TB, key string) string {
	t.Helper()
	v, _ := r.json(t)[key].(string)
	return v
}

// do sends a request; body may be nil, a string (sent raw) or a value
// (sent as JSON).
func (e *env) do(t testing.TB, method, path, token string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b, close: resp.Close}
}

// must sends a request and fails the test unless the status is want.
func (e *env) must(t testing.TB, want int, method, path, token string, body any) reply {
	t.Helper()
	r := e.do(t, method, path, token, body)
	if r.status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, want)
	}
	return r
}

// tenant is an API client with a user and its tokens.
type tenant struct {
	clientID, secret string
	clientToken      string
	userID           string
	userToken        string
	email, password  string
}

func (e *env) newClient(t testing.TB, name string) tenant {
	t.Helper()
	id, secret, err := CreateClient(context.Background(), e.st, name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tn := tenant{clientID: string(id), secret: secret}
	r := e.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": tn.clientID, "client_secret": secret})
	tn.clientToken = r.str(t, "access_token")
	return tn
}

// newUser creates a user of tn's client and signs it in.
func (e *env) newUser(t testing.TB, tn tenant, email string) tenant {
	t.Helper()
	tn.email, tn.password = email, "password-"+email
	r := e.must(t, 201, "POST", "/v1/users", tn.clientToken, map[string]string{"email": email, "password": tn.password, "username": strings.Split(email, "@")[0]})
	tn.userID = r.str(t, "id")
	r = e.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "password", "client_id": tn.clientID,
		"client_secret": tn.secret, "username": email, "password": tn.password})
	tn.userToken = r.str(t, "access_token")
	return tn
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
