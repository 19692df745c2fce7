package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's process-wide date updater and worker-pool cleaner.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// fixture is a store with tenants, spaces, rooms and webhooks.
type fixture struct {
	t  *testing.T
	st *sqlite.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &fixture{t: t, st: st}
}

// addRoom makes room (in space, of client, its owner made as needed) and,
// when url is set, the space's webhook with secret "whsec_<space>".
func (f *fixture) addRoom(client, space, room, url string, active bool) {
	f.t.Helper()
	ctx := context.Background()
	now := time.Now()
	c := store.ClientID(client)
	if _, err := f.st.GetClient(ctx, c); err != nil {
		f.must(f.st.CreateClient(ctx, store.Client{ID: c, Name: client, SecretHash: "h", CreatedAt: now}))
		f.must(f.st.CreateUser(ctx, store.User{ID: "owner", ClientID: c, Email: client + "@example.com", CreatedAt: now}))
	}
	if _, err := f.st.GetSpace(ctx, c, store.SpaceID(space)); err != nil {
		f.must(f.st.CreateSpace(ctx, store.Space{ID: store.SpaceID(space), ClientID: c, OwnerID: "owner", Name: space, CreatedAt: now, UpdatedAt: now}))
		if url != "" {
			f.must(f.st.PutWebhook(ctx, store.Webhook{SpaceID: store.SpaceID(space), ClientID: c, URL: url, Secret: "whsec_" + space,
				IsActive: active, CreatedAt: now, UpdatedAt: now}))
		}
	}
	f.must(f.st.CreateRoom(ctx, store.Room{ID: store.RoomID(room), ClientID: c, SpaceID: store.SpaceID(space), OwnerID: "owner",
		Alias: "a-" + room, ChannelID: room, Name: room, Type: store.RoomTypeLesson, CreatedAt: now, UpdatedAt: now}))
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// deliveries is a space's delivery log, oldest first.
func (f *fixture) deliveries(client, space string) []store.WebhookDelivery {
	f.t.Helper()
	l, _, err := f.st.ListWebhookDeliveries(context.Background(), store.ClientID(client), store.SpaceID(space), store.Page{Limit: store.MaxPageLimit})
	f.must(err)
	for i, j := 0, len(l)-1; i < j; i, j = i+1, j-1 {
		l[i], l[j] = l[j], l[i]
	}
	return l
}

// receiver is a webhook endpoint on 127.0.0.1 answering status(n) to its
// n-th request (1-based).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	hdrs   []http.Header
	status func(n int) int
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.hdrs = append(r.hdrs, req.Header.Clone())
		n := len(r.bodies)
		status := r.status
		r.mu.Unlock()
		if status == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if s := status(n); s/100 == 3 {
			http.Redirect(w, req, "/elsewhere", s)
		} else {
			w.WriteHeader(s)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() ([][]byte, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]http.Header(nil), r.hdrs...)
}

func testConfig() Config {
	c := DefaultConfig()
	c.Workers = 4
	c.Retries = 3
	c.RetryBackoff, c.MaxBackoff = time.Millisecond, 4*time.Millisecond
	c.Timeout = 5 * time.Second
	c.Poll = 20 * time.Millisecond
	c.Allow = []string{"127.0.0.0/8"}
	return c
}

// startDeliverer runs a Deliverer until the test ends.
func startDeliverer(t *testing.T, cfg Config, st Store) *Deliverer {
	t.Helper()
	d, err := New(cfg, Deps{Store: st, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	return d
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// stats are the Deliverer's counters, one string for comparisons.
func (d *Deliverer) stats() string {
	s := fmt.Sprintf("delivered=%v retried=%v", value(d.m.delivered), value(d.m.retried))
	for _, r := range []string{"exhausted", "timeout", "rejected", "forbidden_address", "bad_url", "no_webhook", "inactive"} {
		if v := value(d.m.failed.WithLabelValues(r)); v > 0 {
			s += fmt.Sprintf(" failed:%s=%v", r, v)
		}
	}
	return s
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling
	}
}

func roomProto(name string) *livekit.Room { return &livekit.Room{Name: name} }
func participant(sid string) *livekit.ParticipantInfo {
	return &livekit.ParticipantInfo{Sid: sid, Identity: sid}
}

// newReceiverFunc serves h on 127.0.0.1 until the test ends.
func newReceiverFunc(t *testing.T, h http.HandlerFunc) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
