package edge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/spacecast/spacecast/edge/room"
)

func httpStatusOf(t *testing.T, method, url, token string) (int, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// A draining edge keeps the participants it has and refuses new ones with
// 503 (on /rtc and on /rtc/validate, which the SDKs ask after a failed
// connect); WaitEmpty returns once the last one leaves.
func TestDrainRefusesNewParticipants(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	alice, _ := f.join("alice", "r", nil)
	f.edge.Drain()
	f.edge.Drain() // twice is fine
	if !f.edge.Draining() {
		t.Fatal("Draining() = false after Drain")
	}
	_, resp, err := f.dial("protocol=16&access_token=" + f.token("bob", joinGrant("r"), time.Minute))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("join on a draining edge: err %v, HTTP %d; want 503", err, code)
	}
	if code, _ := httpStatusOf(t, http.MethodGet, f.httpURL+"/rtc/validate", f.token("bob", joinGrant("r"), time.Minute)); code != http.StatusServiceUnavailable {
		t.Fatalf("validate on a draining edge: HTTP %d, want 503", code)
	}
	if n := f.edge.Participants(); n != 1 {
		t.Fatalf("Participants() = %d, want 1 (alice stays)", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if f.edge.WaitEmpty(ctx, 10*time.Millisecond) {
		t.Fatal("WaitEmpty reported empty with alice in the room")
	}
	cancel()
	alice.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !f.edge.WaitEmpty(ctx, 10*time.Millisecond) {
		t.Fatal("edge not empty after the last participant left")
	}
}

func TestProbe(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	code, h := httpStatusOf(t, http.MethodGet, f.httpURL+"/probe", "")
	if code != http.StatusNoContent || h.Get("Cache-Control") != "no-store" || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("GET /probe: HTTP %d, headers %v; want 204, no-store, CORS", code, h)
	}
	if code, _ := httpStatusOf(t, http.MethodPost, f.httpURL+"/probe", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /probe: HTTP %d, want 405", code)
	}
}

// A credential the cluster revoked is refused on join and validate; a
// credential issued after the revocation's bound, and other identities,
// come in.
func TestRevokedCredentialRefused(t *testing.T) {
	var mu sync.Mutex
	bound := time.Now().Add(time.Hour) // every token minted now is older
	f := newFixture(t, fixtureOpts{revoked: func(room, identity string, issued time.Time) bool {
		mu.Lock()
		defer mu.Unlock()
		return room == "r" && identity == "mallory" && !issued.After(bound)
	}})
	tok := f.token("mallory", joinGrant("r"), time.Minute)
	if _, resp, err := f.dial("protocol=16&access_token=" + tok); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("revoked join: err %v; want HTTP 403", err)
	}
	if code, _ := httpStatusOf(t, http.MethodGet, f.httpURL+"/rtc/validate", tok); code != http.StatusForbidden {
		t.Fatalf("revoked validate: HTTP %d, want 403", code)
	}
	f.join("trent", "r", nil)
	mu.Lock()
	bound = time.Now().Add(-time.Hour) // the revocation no longer covers fresh tokens
	mu.Unlock()
	f.join("mallory", "r", nil)
}

type recordingObserver struct {
	room.NopObserver
	mu     sync.Mutex
	joined []string
}

func (o *recordingObserver) ParticipantJoined(_ *livekit.Room, p *livekit.ParticipantInfo) {
	o.mu.Lock()
	o.joined = append(o.joined, p.Identity)
	o.mu.Unlock()
}

// Deps.Observer hears the edge's rooms (webhooks and the room directory
// depend on it).
func TestObserverHearsJoins(t *testing.T) {
	obs := &recordingObserver{}
	f := newFixture(t, fixtureOpts{observer: obs})
	f.join("alice", "r", nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		obs.mu.Lock()
		n := len(obs.joined)
		obs.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("observer did not hear the join")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An edge at its capacity refuses the next participant with 503, in any
// room, so that the SDK goes back to the control plane.
func TestCapacity(t *testing.T) {
	f := newFixture(t, fixtureOpts{mutate: func(c *Config) { c.Capacity = 1 }})
	f.join("alice", "r1", nil)
	_, resp, err := f.dial("protocol=16&access_token=" + f.token("bob", joinGrant("r2"), time.Minute))
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("join beyond capacity: err %v; want HTTP 503", err)
	}
}

// Evict disconnects a participant whose token the revocation covers, with
// PARTICIPANT_REMOVED, and keeps that token out; a token issued after the
// bound is left alone.
func TestEvict(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	alice, _ := f.join("alice", "r", nil)
	f.join("bob", "r", nil)
	if n := f.edge.Evict("r", "bob", time.Now().Add(-time.Hour)); n != 0 {
		t.Fatalf("evicted %d participants whose token is newer than the bound", n)
	}
	if n := f.edge.Evict("other", "alice", time.Time{}); n != 0 {
		t.Fatalf("evicted %d in another room", n)
	}
	if n := f.edge.Evict("", "alice", time.Now().Add(time.Minute)); n != 1 {
		t.Fatalf("Evict = %d, want 1", n)
	}
	alice.expect("leave PARTICIPANT_REMOVED", isLeave(livekit.DisconnectReason_PARTICIPANT_REMOVED))
	if _, resp, err := f.dial("protocol=16&access_token=" + f.token("alice", joinGrant("r"), time.Minute)); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("evicted participant rejoining with a token of before the eviction: err %v; want 403", err)
	}
}

// /healthz answers while the process serves; /readyz says whether the edge
// takes new participants, and which check fails when not: a check the
// process added (the fleet) and the drain, from its first moment.
func TestHealthAndReadiness(t *testing.T) {
	var fleetErr atomic.Pointer[error]
	f := newFixture(t, fixtureOpts{checks: []Check{{Name: "gossip", Err: func() error {
		if p := fleetErr.Load(); p != nil {
			return *p
		}
		return nil
	}}}})
	readyz := func() (int, readiness) {
		t.Helper()
		resp, err := http.Get(f.httpURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r readiness
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatalf("/readyz body: %v", err)
		}
		return resp.StatusCode, r
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, r := readyz()
		if code == http.StatusOK && r.Ready && r.Checks["gossip"] == "ok" && r.Checks["draining"] == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: HTTP %d %+v, want 200 with every check ok", code, r)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := httpStatusOf(t, http.MethodGet, f.httpURL+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz: HTTP %d", code)
	}

	lost := errors.New("no fleet member reachable")
	fleetErr.Store(&lost)
	if code, r := readyz(); code != http.StatusServiceUnavailable || r.Ready || r.Checks["gossip"] != lost.Error() {
		t.Fatalf("fleet lost: /readyz HTTP %d %+v, want 503 naming gossip", code, r)
	}
	fleetErr.Store(nil)
	if code, _ := readyz(); code != http.StatusOK {
		t.Fatalf("fleet back: /readyz HTTP %d, want 200", code)
	}

	f.edge.Drain()
	if code, r := readyz(); code != http.StatusServiceUnavailable || r.Checks["draining"] == "ok" {
		t.Fatalf("draining: /readyz HTTP %d %+v, want 503 naming the drain", code, r)
	}
	// Alive all the same: a liveness probe must not restart a draining edge.
	if code, _ := httpStatusOf(t, http.MethodGet, f.httpURL+"/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz while draining: HTTP %d, want 200", code)
	}
	if code, _ := httpStatusOf(t, http.MethodPost, f.httpURL+"/readyz", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /readyz: HTTP %d, want 405", code)
	}
}
