package reporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/spacecast/spacecast/edge/room"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/occupancy"
)

// fakeSink records batches; fail decides per call whether to fail, block
// holds calls until closed.
type fakeSink struct {
	mu      sync.Mutex
	batches []occupancy.Batch
	calls   int
	fail    func(call int) bool
	block   chan struct{}
}

func (s *fakeSink) Report(ctx context.Context, b occupancy.Batch) error {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail != nil && s.fail(s.calls) {
		return errors.New("sink down")
	}
	s.batches = append(s.batches, b)
	return nil
}

func (s *fakeSink) got() ([]occupancy.Batch, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]occupancy.Batch(nil), s.batches...), s.calls
}

func rm(name string) *livekit.Room { return &livekit.Room{Name: name} }
func pi(sid string) *livekit.ParticipantInfo {
	return &livekit.ParticipantInfo{Sid: sid, Identity: sid}
}

// run starts r in the bubble and returns a stop that waits for it.
func run(t *testing.T, r *Reporter) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}
}

func TestReporterChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{}
		r, err := New(Config{Node: "e1", SnapshotInterval: time.Minute}, Deps{Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, r)
		synctest.Wait()
		r.RoomStarted(rm("r1"))
		r.ParticipantJoined(rm("r1"), pi("PA_a"))
		synctest.Wait()
		r.ParticipantJoined(rm("r1"), pi("PA_b"))
		synctest.Wait()
		r.ParticipantLeft(rm("r1"), pi("PA_a"), livekit.DisconnectReason_CLIENT_INITIATED)
		r.ParticipantLeft(rm("r1"), pi("PA_b"), livekit.DisconnectReason_CLIENT_INITIATED)
		synctest.Wait()
		r.RoomFinished(rm("r1")) // already empty: nothing new
		synctest.Wait()
		stop()

		batches, _ := sink.got()
		var got []string
		for _, b := range batches {
			if b.Edge != "e1" || b.Boot == "" {
				t.Fatalf("batch %+v: edge or boot missing", b)
			}
			s := fmt.Sprintf("full=%v", b.Full)
			for _, rs := range b.Rooms {
				s += fmt.Sprintf(" %s:%d", rs.Room, rs.Participants)
			}
			got = append(got, s)
		}
		want := []string{"full=true", "full=false r1:1", "full=false r1:2", "full=false r1:1 r1:0", "full=true"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("batches %q, want %q", got, want)
		}
		for i := 1; i < len(batches); i++ {
			if batches[i].Seq != batches[i-1].Seq+1 {
				t.Fatalf("seq %d after %d", batches[i].Seq, batches[i-1].Seq)
			}
		}
	})
}

// A join and a leave queued together keep the empty→non-empty→empty
// transitions (a short call is still a call); runs of joins collapse, and
// runs of leaves, but a leave after joins is kept: every session shows in
// some state.
func TestReporterCoalesces(t *testing.T) {
	r, err := New(Config{Node: "e1"}, Deps{Sink: &fakeSink{}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		r.ParticipantJoined(rm("r1"), pi(fmt.Sprint("PA_", i)))
	}
	r.ParticipantLeft(rm("r1"), pi("PA_0"), 0)
	for i := 1; i < 5; i++ {
		r.ParticipantLeft(rm("r1"), pi(fmt.Sprint("PA_", i)), 0)
	}
	r.ParticipantJoined(rm("r1"), pi("PA_9"))
	var got []string
	for _, q := range r.queue {
		s := fmt.Sprintf("%s:%d", q.Room, q.Participants)
		for _, ss := range q.Sessions {
			s += " " + ss.SID + "/" + ss.Identity
		}
		got = append(got, s)
	}
	want := []string{"r1:5 PA_0/PA_0 PA_1/PA_1 PA_2/PA_2 PA_3/PA_3 PA_4/PA_4", "r1:1 PA_4/PA_4", "r1:0", "r1:1 PA_9/PA_9"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("queue %q, want %q", got, want)
	}
}

// The observer methods never block, even with the sink stuck: the queue is
// bounded, overflow is counted, and a snapshot heals the loss.
func TestReporterNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := &fakeSink{block: make(chan struct{})}
		r, err := New(Config{Node: "e1", QueueSize: 8, SnapshotInterval: time.Hour, Timeout: time.Hour}, Deps{Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, r)
		synctest.Wait() // Run is stuck sending its first snapshot
		const rooms = 100
		for i := range rooms {
			r.ParticipantJoined(rm(fmt.Sprint("r", i)), pi("PA_x"))
		}
		for i := range rooms / 2 {
			r.ParticipantLeft(rm(fmt.Sprint("r", i)), pi("PA_x"), 0)
		}
		if d := value(r.m.dropped); d != rooms+rooms/2-8 {
			t.Fatalf("dropped %v, want %d", d, rooms+rooms/2-8)
		}
		close(sink.block)
		synctest.Wait()
		stop()
		batches, _ := sink.got()
		// first snapshot, then a healing snapshot with the 50 rooms left.
		var heal *occupancy.Batch
		for i := range batches[1:] {
			if batches[1+i].Full {
				heal = &batches[1+i]
				break
			}
		}
		if heal == nil || len(heal.Rooms) != rooms/2 {
			t.Fatalf("no healing snapshot of %d rooms in %+v", rooms/2, batches)
		}
		for _, rs := range heal.Rooms {
			var n int
			if _, err := fmt.Sscanf(rs.Room, "r%d", &n); err != nil || n < rooms/2 || rs.Participants != 1 {
				t.Fatalf("snapshot has %+v", rs)
			}
		}
	})
}

func TestReporterRetries(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(call int) bool
		wantCalls int
		sent      float64
		failed    float64
		retried   float64
	}{
		// call 1 is the first snapshot; calls 2.. are the change.
		{"fails twice then succeeds", func(c int) bool { return c == 2 || c == 3 }, 4, 2, 0, 2},
		{"always fails", func(c int) bool { return c >= 2 }, 5, 1, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sink := &fakeSink{fail: tt.fail}
				r, err := New(Config{Node: "e1", SnapshotInterval: time.Hour}, Deps{Sink: sink})
				if err != nil {
					t.Fatal(err)
				}
				stop := run(t, r)
				synctest.Wait()
				r.ParticipantJoined(rm("r1"), pi("PA_a"))
				time.Sleep(time.Minute) // fake time: every backoff passes
				synctest.Wait()
				_, calls := sink.got()
				if calls != tt.wantCalls {
					t.Fatalf("%d sends, want %d", calls, tt.wantCalls)
				}
				if s, f, rt := value(r.m.sent), value(r.m.failed), value(r.m.retried); s != tt.sent || f != tt.failed || rt != tt.retried {
					t.Fatalf("sent %v failed %v retried %v, want %v %v %v", s, f, rt, tt.sent, tt.failed, tt.retried)
				}
				if tt.failed > 0 {
					r.mu.Lock()
					resync := r.resync
					r.mu.Unlock()
					if !resync {
						t.Fatal("a dropped batch does not schedule a snapshot")
					}
				}
				stop()
			})
		})
	}
}

type recorder struct {
	room.NopObserver
	mu     sync.Mutex
	joined []string
}

func (o *recorder) ParticipantJoined(_ *livekit.Room, p *livekit.ParticipantInfo) {
	o.mu.Lock()
	o.joined = append(o.joined, p.GetSid())
	o.mu.Unlock()
}

func TestReporterChainsNext(t *testing.T) {
	next := &recorder{}
	r, err := New(Config{Node: "e1"}, Deps{Sink: &fakeSink{}, Next: next})
	if err != nil {
		t.Fatal(err)
	}
	r.ParticipantJoined(rm("r1"), pi("PA_a"))
	if fmt.Sprint(next.joined) != "[PA_a]" {
		t.Fatalf("next heard %v", next.joined)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(Config{}, Deps{Sink: &fakeSink{}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no node: %v", err)
	}
	if _, err := New(Config{Node: "e1"}, Deps{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no sink: %v", err)
	}
}

// Client signs each batch; the receiving side verifies it with the cluster
// keys and answers; non-2xx is an error.
func TestClient(t *testing.T) {
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []occupancy.Batch
	status := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, r.ContentLength)
		if _, err := r.Body.Read(body); err != nil && int64(len(body)) != r.ContentLength {
			t.Error(err)
		}
		tok := r.Header.Get("Authorization")[len("Bearer "):]
		edge, err := occupancy.Verify(cl.APIKeys, tok, body, time.Now())
		if err != nil || r.URL.Path != occupancy.Path || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, err := occupancy.Decode(body)
		if err != nil || b.Edge != edge {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, b)
		s := status
		mu.Unlock()
		w.WriteHeader(s)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL+"/", cl)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := occupancy.Batch{Edge: "e1", Boot: "b", Seq: 1, Rooms: []occupancy.RoomState{{Room: "r1", Participants: 2}}}
	if err := c.Report(ctx, b); err != nil {
		t.Fatalf("Report() = %v", err)
	}
	mu.Lock()
	status = http.StatusServiceUnavailable
	mu.Unlock()
	if err := c.Report(ctx, b); err == nil {
		t.Fatal("Report() with a 503 answer = nil")
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0].Rooms[0], occupancy.RoomState{Room: "r1", Participants: 2}) {
		t.Fatalf("server got %+v", got)
	}
	// After a rotation the client signs with the new key, which the old
	// keys do not verify.
	mu.Lock()
	status = http.StatusNoContent
	mu.Unlock()
	if err := c.Report(ctx, b); err != nil {
		t.Fatalf("Report() = %v", err)
	}
	rotated, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetCluster(rotated); err != nil {
		t.Fatal(err)
	}
	if err := c.Report(ctx, b); err == nil {
		t.Fatal("Report() signed with a key the server does not know = nil")
	}
	if _, err := NewClient("ftp://x", cl); !errors.Is(err, ErrInvalid) {
		t.Fatalf("NewClient(ftp) = %v", err)
	}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// BenchmarkObserve is what a join and a leave cost the edge's goroutines.
func BenchmarkObserve(b *testing.B) {
	r, err := New(Config{Node: "e1", QueueSize: 1 << 20}, Deps{Sink: &fakeSink{}})
	if err != nil {
		b.Fatal(err)
	}
	room, p := rm("6745f0c2a1b2c3d4e5f60718"), pi("PA_abcdef")
	b.ReportAllocs()
	for b.Loop() {
		r.ParticipantJoined(room, p)
		r.ParticipantLeft(room, p, 0)
		r.mu.Lock()
		r.queue = r.queue[:0]
		r.mu.Unlock()
	}
}

// TestReporterSessions: changes and snapshots say who is in each room
// (sid, identity, name), sorted by sid.
func TestReporterSessions(t *testing.T) {
	r, err := New(Config{Node: "e1"}, Deps{Sink: &fakeSink{}})
	if err != nil {
		t.Fatal(err)
	}
	r.ParticipantJoined(rm("r1"), &livekit.ParticipantInfo{Sid: "PA_b", Identity: "u_2", Name: "Bob"})
	r.ParticipantJoined(rm("r1"), &livekit.ParticipantInfo{Sid: "PA_a", Identity: "u_1", Name: "Ann"})
	want := []occupancy.Session{{SID: "PA_a", Identity: "u_1", Name: "Ann"}, {SID: "PA_b", Identity: "u_2", Name: "Bob"}}
	if len(r.queue) != 1 || !reflect.DeepEqual(r.queue[0].Sessions, want) {
		t.Fatalf("queue %+v", r.queue)
	}
	sink := &fakeSink{}
	r.sink = sink
	r.snapshot(context.Background())
	b, _ := sink.got()
	if len(b) != 1 || !b[0].Full || len(b[0].Rooms) != 1 || !reflect.DeepEqual(b[0].Rooms[0].Sessions, want) {
		t.Fatalf("snapshot %+v", b)
	}
	if err := b[0].Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestClientFailover: with several control-plane replicas, a batch the
// current one cannot take (down, 5xx) goes to the next, which the client
// then sticks to; a refusal (4xx) is final.
func TestClientFailover(t *testing.T) {
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	hits := map[string]int{}
	status := map[string]int{"a": 503, "b": 204}
	serve := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			_, _ = io.ReadAll(req.Body)
			mu.Lock()
			hits[name]++
			s := status[name]
			mu.Unlock()
			w.WriteHeader(s)
		}))
	}
	a, b := serve("a"), serve("b")
	defer a.Close()
	defer b.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there
	c, err := NewClient(down.URL, cl, a.URL, b.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	batch := occupancy.Batch{Edge: "e1", Boot: "b", Seq: 1}
	if err := c.Report(ctx, batch); err != nil {
		t.Fatalf("Report with one replica up: %v", err)
	}
	if err := c.Report(ctx, batch); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if hits["a"] != 1 || hits["b"] != 2 {
		t.Fatalf("hits %v: want a tried once, then b kept", hits)
	}
	status["b"] = 400
	mu.Unlock()
	if err := c.Report(ctx, batch); err == nil {
		t.Fatal("a refused batch reported as taken")
	}
	mu.Lock()
	defer mu.Unlock()
	if hits["a"] != 1 || hits["b"] != 3 {
		t.Fatalf("hits %v: a 4xx went on to another replica", hits)
	}
	if _, err := NewClient("http://x", cl, "ftp://y"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a bad second URL: %v", err)
	}
}

// Recording states go out with the next batch; every snapshot lists the
// recordings not yet taken in a final state (so a control plane that
// lost a batch still hears of them), and a final state taken is
// forgotten. A failed send keeps them for the snapshot that follows.
func TestReporterRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fail := false
		sink := &fakeSink{}
		sink.fail = func(int) bool { return fail }
		r, err := New(Config{Node: "e1", SnapshotInterval: time.Minute, Retries: -1}, Deps{Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, r)
		synctest.Wait()
		at := time.Now()
		r.RecordChanged(occupancy.RecordState{ID: "rec1", Room: "r1", State: occupancy.RecordRecording, StartedAt: at})
		r.RecordChanged(occupancy.RecordState{ID: "rec2", Room: "r2", State: occupancy.RecordRecording, StartedAt: at})
		synctest.Wait()
		fail = true // rec1's final state is lost on the way
		r.RecordChanged(occupancy.RecordState{ID: "rec1", Room: "r1", State: occupancy.RecordFinished, StartedAt: at, ComposedBytes: 42})
		synctest.Wait()
		fail = false
		time.Sleep(time.Minute) // the snapshot
		synctest.Wait()
		time.Sleep(time.Minute) // and the next: rec1 was taken
		synctest.Wait()
		stop()

		batches, _ := sink.got()
		var got []string
		for _, b := range batches {
			s := fmt.Sprintf("full=%v", b.Full)
			for _, rs := range b.Records {
				s += fmt.Sprintf(" %s:%s", rs.ID, rs.State)
			}
			got = append(got, s)
		}
		want := []string{"full=true", "full=false rec1:recording rec2:recording",
			// The failed send makes the next tick's flush a snapshot; then
			// the periodic snapshots, then the goodbye, which keeps rec2.
			"full=true rec1:finished rec2:recording", "full=true rec2:recording", "full=true rec2:recording", "full=true rec2:recording"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("batches %q, want %q", got, want)
		}
		for _, b := range batches {
			if err := b.Validate(); err != nil {
				t.Fatalf("batch %+v: %v", b, err)
			}
		}
	})
}
