package webhook

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/edge/reporter"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/occupancy"
)

// serveInternal serves h on 127.0.0.1:0 until the test ends.
func serveInternal(t *testing.T, h *Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h.Serve, MaxRequestBodySize: 1 << 20}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(); err != nil {
			t.Error(err)
		}
		<-done
	})
	return "http://" + ln.Addr().String()
}

// runCalls runs c until the test ends.
func runCalls(t *testing.T, c *Calls) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func TestHandlerAuth(t *testing.T) {
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	other, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	f.addRoom("c1", "s1", "r1", "https://hooks.example.com/x", true)
	calls, err := NewCalls(DefaultCallsConfig(), f.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCalls(t, calls)
	h, err := NewHandler(calls, cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := serveInternal(t, h)
	key, secret := cl.SigningSecret()
	okBody := []byte(`{"edge":"e1","boot":"b","seq":1,"full":false,"rooms":[{"room":"r1","participants":1}]}`)
	sign := func(key, secret, edge string, body []byte, at time.Time) string {
		tok, err := occupancy.Sign(key, secret, edge, body, at)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	okey, osecret := other.SigningSecret()
	tests := []struct {
		name   string
		method string
		path   string
		auth   string
		body   []byte
		status int
	}{
		{"no token", "POST", occupancy.Path, "", okBody, 401},
		{"not bearer", "POST", occupancy.Path, "Basic eDp5", okBody, 401},
		{"another cluster's key", "POST", occupancy.Path, sign(okey, osecret, "e1", okBody, time.Now()), okBody, 401},
		{"expired", "POST", occupancy.Path, sign(key, secret, "e1", okBody, time.Now().Add(-5*time.Minute)), okBody, 401},
		{"token for another body", "POST", occupancy.Path, sign(key, secret, "e1", []byte(`{}`), time.Now()), okBody, 401},
		{"token of another edge", "POST", occupancy.Path, sign(key, secret, "e2", okBody, time.Now()), okBody, 403},
		{"malformed batch", "POST", occupancy.Path, sign(key, secret, "e1", []byte(`{"edge":`), time.Now()), []byte(`{"edge":`), 400},
		{"GET", "GET", occupancy.Path, "", nil, 405},
		{"other path", "POST", "/internal/v1/other", "", okBody, 404},
		{"valid", "POST", occupancy.Path, sign(key, secret, "e1", okBody, time.Now()), okBody, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, tt.method, base+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	// Only the valid batch reached the tracker.
	if l := f.deliveries("c1", "s1"); len(l) != 1 || l[0].Event.Name != "call_started" {
		t.Fatalf("the tracker took %+v", l)
	}

	// Key rotation: after SetCluster, the new cluster's key verifies and
	// the old one does not.
	if err := h.SetCluster(other); err != nil {
		t.Fatal(err)
	}
	post := func(auth string, body []byte) int {
		req, err := http.NewRequest("POST", base+occupancy.Path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	next := []byte(`{"edge":"e1","boot":"b","seq":2,"full":false,"rooms":[{"room":"r2","participants":1}]}`)
	if c := post(sign(key, secret, "e1", next, time.Now()), next); c != 401 {
		t.Fatalf("old key after rotation: %d, want 401", c)
	}
	if c := post(sign(okey, osecret, "e1", next, time.Now()), next); c != 204 {
		t.Fatalf("new key after rotation: %d, want 204", c)
	}
	http.DefaultClient.CloseIdleConnections()
}

// The whole production path: an edge's Reporter posts over HTTP with the
// cluster key; the control plane's handler feeds Calls, which has the
// Deliverer sign and deliver call_started and call_finished to the space's
// webhook.
func TestEdgeEventsOverHTTPToWebhook(t *testing.T) {
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t, nil)
	f := newFixture(t)
	f.addRoom("c1", "space1", "room1", rcv.URL+"/hook", true)
	startDeliverer(t, testConfig(), f.st)
	ccfg := DefaultCallsConfig()
	ccfg.FinishGrace, ccfg.Sweep = 50*time.Millisecond, 10*time.Millisecond
	calls, err := NewCalls(ccfg, f.st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCalls(t, calls)
	h, err := NewHandler(calls, cl, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := serveInternal(t, h)

	client, err := reporter.NewClient(base, cl)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rep, err := reporter.New(reporter.Config{Node: "edge-a", RetryBackoff: time.Millisecond}, reporter.Deps{Sink: client})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rep.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Reporter.Run() = %v", err)
		}
	}()

	room := roomProto("room1")
	rep.RoomStarted(room)
	rep.ParticipantJoined(room, participant("PA_1"))
	eventually(t, "call_started", func() bool { b, _ := rcv.got(); return len(b) == 1 })
	rep.ParticipantLeft(room, participant("PA_1"), 0)
	rep.RoomFinished(room)
	eventually(t, "call_finished", func() bool { b, _ := rcv.got(); return len(b) == 2 })
	bodies, _ := rcv.got()
	for i, want := range []EventName{CallStarted, CallFinished} {
		got, err := Verify("whsec_space1", bodies[i])
		if err != nil || got != (Body{EventName: want, RoomID: "room1", SpaceID: "space1"}) {
			t.Fatalf("delivery %d: %+v, %v; want %s", i, got, err, want)
		}
	}
	if _, err := Verify("whsec_other", bodies[0]); !errors.Is(err, ErrSignature) {
		t.Fatalf("a wrong secret verifies: %v", err)
	}
}
