package fleet

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/webhook"
)

// TestFleet runs two control-plane replicas and three edges (a1, a2 in
// region a; b1 in region b), each a process in its own namespace, and
// walks through what a fleet must survive; at every step both replicas
// must list the same regions and edges. Every step names the measured time in the
// test log (go test -v) so that the detection and convergence times can be
// read off a run.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process fleet: skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newWorld(t, ctx)
	w.startControlPlane("cp-1")
	w.startControlPlane("cp-2") // a second replica: it must see the same fleet
	a1, a2, b1 := w.addEdge("edge-a1", "a"), w.addEdge("edge-a2", "a"), w.addEdge("edge-b1", "b")
	probe := func(p *proc) string { return "http://" + p.addr() + ":" + signalPort + "/probe" }

	took := w.eventually("every edge in the region list", 20*time.Second, func() bool {
		r := w.regions()
		return slices.Equal(r["a"], sortedURLs(probe(a1), probe(a2))) && slices.Equal(r["b"], []string{probe(b1)})
	})
	t.Logf("fleet formed: both replicas list all three edges %s after the edges started", took.Round(time.Millisecond))
	// The probe URLs answer as clients expect.
	resp, err := w.hc.Get(probe(b1))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("probe: %v %v", resp, err)
	}
	resp.Body.Close()

	owner, space := w.owner()
	r1, r2, r3 := w.room(owner, space, "one"), w.room(owner, space, "two"), w.room(owner, space, "three")
	hintA := map[string]any{"regionHint": "a"}

	t.Run("region by hint, RTTs and default", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			body map[string]any
			want string
		}{
			{"hint b", map[string]any{"regionHint": "b"}, "b"},
			{"lowest RTT b", map[string]any{"rtts": map[string]int{"a": 90, "b": 12}}, "b"},
			{"lowest RTT a", map[string]any{"rtts": map[string]int{"a": 9, "b": 120}}, "a"},
			{"hint beats RTTs", map[string]any{"regionHint": "a", "rtts": map[string]int{"a": 90, "b": 12}}, "a"},
			{"default region", map[string]any{}, "a"},
		} {
			a, c := w.join(r3, tc.body)
			if c != 200 || a.Edge.Region != tc.want {
				t.Fatalf("%s: HTTP %d, region %q, want %q", tc.name, c, a.Edge.Region, tc.want)
			}
		}
	})

	// Room one gets a participant on some edge X of region a; room two,
	// placed once X's load has spread, lands on the other edge Y (least
	// loaded); then room one's next participant still goes to X: the room
	// lives on one edge of the region (sticky), whatever the load says.
	first, c := w.join(r1, hintA)
	if c != 200 {
		t.Fatalf("join: %d", c)
	}
	x := first.Edge.NodeID
	firstConn, code := w.connect(first.Edge.URL, first.MediaToken)
	if firstConn == nil {
		t.Fatalf("connect to %s: HTTP %d", x, code)
	}
	// Each try is a new room: a room placed once follows its first
	// placement for a while (sticky), even before anyone connects.
	var y string
	took = w.eventually("a new room placed on the less loaded edge", 15*time.Second, func() bool {
		a, c := w.join(w.room(owner, space, "probe"), hintA)
		y = a.Edge.NodeID
		return c == 200 && y != x
	})
	t.Logf("a new room placed away from %s (busier) after %s", x, took.Round(time.Millisecond))
	for i := range 3 {
		a, c := w.join(r1, hintA)
		if c != 200 || a.Edge.NodeID != x {
			t.Fatalf("join %d of room one: HTTP %d on %s, want %s (sticky room)", i, c, a.Edge.NodeID, x)
		}
	}

	t.Run("webhooks from the fleet", func(t *testing.T) {
		// A receiver on the bridge (the host side of the test network).
		ln, err := net.Listen("tcp", net.JoinHostPort(w.net.Gateway().String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 16)
		srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got <- b
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		var hook struct {
			Secret string `json:"secret"`
		}
		if c := w.call("POST", "/spaces/"+space+"/webhook", owner, map[string]any{"url": "http://" + ln.Addr().String() + "/hook"}, &hook); c/100 != 2 {
			t.Fatalf("create webhook: HTTP %d", c)
		}
		r4 := w.room(owner, space, "four")
		a, c := w.join(r4, map[string]any{"regionHint": "b"})
		if c != 200 {
			t.Fatalf("join: %d", c)
		}
		p, code := w.connect(a.Edge.URL, a.MediaToken)
		if p == nil {
			t.Fatalf("connect: HTTP %d", code)
		}
		expect := func(name webhook.EventName) {
			t.Helper()
			select {
			case b := <-got:
				body, err := webhook.Verify(hook.Secret, b)
				if err != nil {
					t.Fatalf("delivery %s: %v", b, err)
				}
				if body.EventName != name || body.RoomID != r4.id || body.SpaceID != space {
					t.Fatalf("delivery %+v, want %s of room %s", body, name, r4.id)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no %s delivered", name)
			}
		}
		expect(webhook.CallStarted)
		p.leave()
		expect(webhook.CallFinished)
	})

	t.Run("kill an edge: detected, no more placements, participants re-placed", func(t *testing.T) {
		killedAt := time.Now()
		w.kill(w.edges[x])
		took := w.eventually("room one placed on the surviving edge", 15*time.Second, func() bool {
			a, c := w.join(r1, hintA)
			return c == 200 && a.Edge.NodeID == y
		})
		t.Logf("%s killed: placements moved to %s after %s", x, y, took.Round(time.Millisecond))
		w.eventually("the dead edge gone from the region list", 10*time.Second, func() bool {
			return len(w.regions()["a"]) == 1
		})
		t.Logf("region list without %s %s after the kill", x, time.Since(killedAt).Round(time.Millisecond))
		// The participant's SDK reconnects: it rejoins through the control
		// plane with its session credential and lands on the other edge.
		again, c := w.join(r1, map[string]any{"sessionToken": first.Session.Token, "regionHint": "a"})
		if c != 200 || again.Edge.NodeID != y || again.Identity != first.Identity {
			t.Fatalf("rejoin: HTTP %d on %s as %s, want %s as %s", c, again.Edge.NodeID, again.Identity, y, first.Identity)
		}
		p, code := w.connect(again.Edge.URL, again.MediaToken)
		if p == nil {
			t.Fatalf("reconnect to %s: HTTP %d", y, code)
		}
		first, firstConn = again, p
	})

	t.Run("removal reaches every edge", func(t *testing.T) {
		// The moderator removes the participant; its media token must now be
		// refused by every edge (here: b1, which never saw it), and its
		// session credential by the control plane.
		c := w.call("POST", "/spaces/"+space+"/rooms/"+r1.id+"/participants/"+first.Identity+"/remove", owner, nil, nil)
		if c != 200 {
			t.Fatalf("remove: HTTP %d", c)
		}
		removedAt := time.Now()
		// The edge it is connected to disconnects it, even if the room
		// directory had not told the control plane where it was yet.
		select {
		case <-firstConn.closed:
			t.Logf("removed participant disconnected %s after the removal", time.Since(removedAt).Round(time.Millisecond))
		case <-time.After(10 * time.Second):
			t.Fatal("the removed participant is still connected")
		}
		bURL := "ws://" + b1.addr() + ":" + signalPort
		w.eventually("edge b1 refusing the removed participant's token", 10*time.Second, func() bool {
			return w.validate(bURL, first.MediaToken) == http.StatusForbidden
		})
		t.Logf("revocation on edge-b1 %s after the removal", time.Since(removedAt).Round(time.Millisecond))
		if _, code := w.connect(bURL, first.MediaToken); code != http.StatusForbidden {
			t.Fatalf("removed participant connecting elsewhere: HTTP %d, want 403", code)
		}
		if _, c := w.join(r1, map[string]any{"sessionToken": first.Session.Token}); c != http.StatusForbidden {
			t.Fatalf("rejoin of the removed participant: HTTP %d, want 403", c)
		}
	})

	t.Run("cut an edge off, heal, directory converges", func(t *testing.T) {
		// A participant of room three on b1 before the cut.
		a, c := w.join(r3, map[string]any{"regionHint": "b"})
		if c != 200 || a.Edge.NodeID != "edge-b1" {
			t.Fatalf("join on b: HTTP %d on %s", c, a.Edge.NodeID)
		}
		if p, code := w.connect(a.Edge.URL, a.MediaToken); p == nil {
			t.Fatalf("connect to b1: HTTP %d", code)
		}
		listed := func() bool {
			var l struct {
				Items []struct {
					Identity string `json:"identity"`
					NodeID   string `json:"nodeId"`
				} `json:"items"`
			}
			if w.call("GET", "/spaces/"+space+"/rooms/"+r3.id+"/participants", owner, nil, &l) != 200 {
				return false
			}
			for _, it := range l.Items {
				if it.Identity == a.Identity && it.NodeID == "edge-b1" {
					return true
				}
			}
			return false
		}
		w.eventually("room three located on b1", 10*time.Second, listed)
		if err := b1.host.Disconnect(ctx); err != nil {
			t.Fatal(err)
		}
		cut := time.Now()
		took := w.eventually("the cut edge declared dead", 15*time.Second, func() bool {
			r := w.regions() // nil while the replicas disagree
			return r != nil && len(r["b"]) == 0
		})
		t.Logf("edge-b1 cut off: declared dead after %s", took.Round(time.Millisecond))
		if a, c := w.join(r3, map[string]any{"regionHint": "b"}); c != 200 || a.Edge.Region != "a" {
			t.Fatalf("join for region b with b down: HTTP %d region %q, want a (a far edge beats no call)", c, a.Edge.Region)
		}
		if err := b1.host.Reconnect(ctx); err != nil {
			t.Fatal(err)
		}
		healed := time.Now()
		took = w.eventually("the healed edge back in the region list", 20*time.Second, func() bool { return len(w.regions()["b"]) == 1 })
		t.Logf("edge-b1 reconnected after a %s cut: back after %s", healed.Sub(cut).Round(time.Millisecond), took.Round(time.Millisecond))
		took = w.eventually("room three located on b1 again", 20*time.Second, listed)
		t.Logf("room directory converged %s after the heal", (time.Since(healed) - 0).Round(time.Millisecond))
		_ = took
	})

	t.Run("restart an edge: it rejoins", func(t *testing.T) {
		start := time.Now()
		w.run(w.edges[x])
		w.eventually("the restarted edge in the region list", 20*time.Second, func() bool { return len(w.regions()["a"]) == 2 })
		t.Logf("%s restarted: listed again after %s", x, time.Since(start).Round(time.Millisecond))
	})

	t.Run("drain: no new participants, exit when empty", func(t *testing.T) {
		// Room one lives on y now (sticky): a participant there.
		a, c := w.join(r1, hintA)
		if c != 200 || a.Edge.NodeID != y {
			t.Fatalf("join: HTTP %d on %s, want %s", c, a.Edge.NodeID, y)
		}
		p, code := w.connect(a.Edge.URL, a.MediaToken)
		if p == nil {
			t.Fatalf("connect: HTTP %d", code)
		}
		ye := w.edges[y]
		if err := signalTerm(ye); err != nil {
			t.Fatal(err)
		}
		termAt := time.Now()
		took := w.eventually("placements leave the draining edge", 10*time.Second, func() bool {
			a, c := w.join(r1, hintA)
			return c == 200 && a.Edge.NodeID == x
		})
		t.Logf("%s draining: placements moved after %s", y, took.Round(time.Millisecond))
		// A new participant that still comes with a token for the draining
		// edge is sent back (503); the one already there stays.
		late, _ := w.join(r2, hintA) // placed elsewhere now; its token is for room two
		if code := w.validate(a.Edge.URL, late.MediaToken); code != http.StatusServiceUnavailable {
			t.Fatalf("validate on a draining edge: HTTP %d, want 503", code)
		}
		select {
		case err := <-ye.done:
			t.Fatalf("draining edge exited with a participant still in it: %v", err)
		case <-time.After(500 * time.Millisecond):
		}
		p.leave()
		select {
		case err := <-ye.done:
			ye.done <- err
			if err != nil {
				t.Fatalf("drained edge exit: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("drained edge did not exit after its last participant left")
		}
		t.Logf("%s exited %s after SIGTERM, once empty", y, time.Since(termAt).Round(time.Millisecond))
	})
}

func sortedURLs(u ...string) []string {
	slices.Sort(u)
	return u
}
