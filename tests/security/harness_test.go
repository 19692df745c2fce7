package security

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane"
	"github.com/spacecast/spacecast/controlplane/placement"
	"github.com/spacecast/spacecast/controlplane/store/sqlite"
	"github.com/spacecast/spacecast/controlplane/web"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// testEdge is the edge the static placer answers.
var testEdge = placement.Placement{NodeID: "edge-1", Region: "local", SignalURL: "ws://127.0.0.1:7880",
	TURNURLs: []string{"turn:127.0.0.1:3478?transport=udp"}}

// clock is the real clock plus an offset that a test moves forward (to
// see what holds a second later without waiting a second), shared by the
// replicas of a test.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func newClock() *clock { return &clock{} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// opts tune one control-plane replica.
type opts struct {
	mutate func(*controlplane.Config)
	// db is the SQLite file; empty: a fresh one. Two replicas given the
	// same file share the store, as replicas of a deployment do.
	db string
	// cluster are the cluster keys; nil: fresh ones.
	cluster *clusterkey.Config
	clock   *clock
	// page serves the room page (/room/*, /assets/*).
	page   bool
	logger *slog.Logger
}

// server is one control plane on 127.0.0.1:0.
type server struct {
	base    string
	db      string
	srv     *controlplane.Server
	st      *sqlite.Store
	cluster clusterkey.Config
	hc      *http.Client
}

func start(t *testing.T, o opts) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db := o.db
	if db == "" {
		db = filepath.Join(t.TempDir(), "spacecast.db")
	}
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := o.cluster
	if cl == nil {
		g, err := clusterkey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		cl = &g
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := controlplane.DefaultConfig()
	cfg.PublicURL = "http://" + ln.Addr().String()
	// No rate limit unless the test sets one: many tests make many calls.
	cfg.RateLimit = cfg.RateLimit.Disabled()
	cfg.DrainDelay = 0 // no load balancer to wait for
	if o.mutate != nil {
		o.mutate(&cfg)
	}
	deps := controlplane.Deps{Store: st, Cluster: *cl, Placer: placement.Static{Edge: testEdge}, Logger: o.logger}
	if o.clock != nil {
		deps.Now = o.clock.Now
	}
	if o.page {
		p, err := web.New(web.Deps{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		deps.Page = p.Handler()
	}
	srv, err := controlplane.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	s := &server{base: cfg.PublicURL, db: db, srv: srv, st: st, cluster: *cl, hc: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return")
		}
		tr.CloseIdleConnections()
		st.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := s.hc.Get(s.base + "/readyz")
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
	return s
}

// reply is one HTTP answer.
type reply struct {
	status int
	header http.Header
	body   []byte
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

// req is one request: body nil, a string (sent raw) or a value (JSON).
type req struct {
	method, path, token string
	body                any
	header              map[string]string
}

func (s *server) send(t testing.TB, q req) reply {
	t.Helper()
	var rd io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(q.method, s.base+q.path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if q.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if q.token != "" {
		hr.Header.Set("Authorization", "Bearer "+q.token)
	}
	for k, v := range q.header {
		hr.Header.Set(k, v)
	}
	resp, err := s.hc.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (s *server) do(t testing.TB, method, path, token string, body any) reply {
	t.Helper()
	return s.send(t, req{method: method, path: path, token: token, body: body})
}

// must sends a request and fails the test unless the status is want.
func (s *server) must(t testing.TB, want int, method, path, token string, body any) reply {
	t.Helper()
	r := s.do(t, method, path, token, body)
	if r.status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, want)
	}
	return r
}

// tenant is an API client, maybe with one of its users.
type tenant struct {
	clientID, secret           string
	clientToken, clientRefresh string
	userID                     string
	userToken, userRefresh     string
	email, password            string
}

func (s *server) newClient(t testing.TB, name string) tenant {
	t.Helper()
	id, secret, err := controlplane.CreateClient(context.Background(), s.st, name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tn := tenant{clientID: string(id), secret: secret}
	r := s.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": tn.clientID, "client_secret": secret})
	tn.clientToken, tn.clientRefresh = r.str(t, "access_token"), r.str(t, "refresh_token")
	return tn
}

// newUser creates a user of tn's client and signs it in.
func (s *server) newUser(t testing.TB, tn tenant, email string) tenant {
	t.Helper()
	tn.email, tn.password = email, "password-"+email
	r := s.must(t, 201, "POST", "/v1/users", tn.clientToken, map[string]string{"email": email, "password": tn.password, "username": strings.Split(email, "@")[0]})
	tn.userID = r.str(t, "id")
	return s.signIn(t, tn)
}

// signIn gives tn a fresh user token pair.
func (s *server) signIn(t testing.TB, tn tenant) tenant {
	t.Helper()
	r := s.must(t, 200, "POST", "/v1/auth/token", "", map[string]string{"grant_type": "password", "client_id": tn.clientID,
		"client_secret": tn.secret, "username": tn.email, "password": tn.password})
	tn.userToken, tn.userRefresh = r.str(t, "access_token"), r.str(t, "refresh_token")
	return tn
}

// space creates a space of owner's.
func (s *server) space(t testing.TB, owner tenant, public bool) string {
	t.Helper()
	return s.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "space", "isPublic": public}).str(t, "id")
}

// room is a room's id and alias.
type room struct{ space, id, alias string }

func (s *server) room(t testing.TB, owner tenant, space string, fields map[string]any) room {
	t.Helper()
	body := map[string]any{"name": "room"}
	for k, v := range fields {
		body[k] = v
	}
	r := s.must(t, 201, "POST", "/v1/spaces/"+space+"/rooms", owner.userToken, body).json(t)
	return room{space: space, id: r["id"].(string), alias: r["alias"].(string)}
}

// join calls the join endpoint with body (nil: an empty body) and the
// bearer token.
func (s *server) join(t testing.TB, rm room, token string, body map[string]any) reply {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	return s.do(t, "POST", "/v1/rooms/"+rm.alias+"/join", token, body)
}

// joinAnswer is the part of a join answer the tests read.
type joinAnswer struct {
	Identity string `json:"identity"`
	Role     string `json:"role"`
	Grants   struct {
		RoomAdmin bool `json:"roomAdmin"`
	} `json:"grants"`
	Session struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expiresAt"`
	} `json:"session"`
	MediaToken          string    `json:"mediaToken"`
	MediaTokenExpiresAt time.Time `json:"mediaTokenExpiresAt"`
}

func (r reply) answer(t testing.TB) joinAnswer {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("join = %d %s", r.status, r.body)
	}
	var a joinAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s did not happen", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
