package webhook

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/controlplane/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's process-wide date updater and worker-pool cleaner.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

// memStore is the two reads the Deliverer makes.
type memStore struct {
	mu       sync.Mutex
	rooms    map[store.RoomID]store.Room
	webhooks map[store.SpaceID]store.Webhook
}

func newMemStore() *memStore {
	return &memStore{rooms: map[store.RoomID]store.Room{}, webhooks: map[store.SpaceID]store.Webhook{}}
}

func (s *memStore) GetRoomByID(_ context.Context, id store.RoomID) (store.Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[id]
	if !ok {
		return r, store.ErrNotFound
	}
	return r, nil
}

func (s *memStore) GetWebhook(_ context.Context, client store.ClientID, space store.SpaceID) (store.Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.webhooks[space]
	if !ok || w.ClientID != client {
		return w, store.ErrNotFound
	}
	return w, nil
}

// addRoom adds room (in space, of client c1) whose space's webhook is url.
func (s *memStore) addRoom(room, space, url string, active bool) {
	s.addRoomOf("c1", room, space, url, active)
}

// addRoomOf is addRoom for a room of client.
func (s *memStore) addRoomOf(client, room, space, url string, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms[store.RoomID(room)] = store.Room{ID: store.RoomID(room), SpaceID: store.SpaceID(space), ClientID: store.ClientID(client)}
	if url != "" {
		s.webhooks[store.SpaceID(space)] = store.Webhook{SpaceID: store.SpaceID(space), ClientID: store.ClientID(client), URL: url, Secret: "whsec_" + space, IsActive: active}
	}
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
		r.mu.Unlock()
		if r.status == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if s := r.status(n); s/100 == 3 {
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
	c.Workers, c.QueueSize = 2, 16
	c.RetryBackoff, c.MaxBackoff = time.Millisecond, 4*time.Millisecond
	c.Timeout = 5 * time.Second
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
	for _, r := range []string{"exhausted", "timeout", "rejected", "forbidden_address", "bad_url", "store"} {
		if v := value(d.m.failed.WithLabelValues(r)); v > 0 {
			s += fmt.Sprintf(" failed:%s=%v", r, v)
		}
	}
	for _, r := range []string{"queue_full", "tenant_queue_full", "closed", "shutdown"} {
		if v := value(d.m.dropped.WithLabelValues(r)); v > 0 {
			s += fmt.Sprintf(" dropped:%s=%v", r, v)
		}
	}
	for _, r := range []string{"no_room", "no_webhook", "inactive"} {
		if v := value(d.m.skipped.WithLabelValues(r)); v > 0 {
			s += fmt.Sprintf(" skipped:%s=%v", r, v)
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
