package gossip

import (
	"context"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// suspicionWatch is a slog handler that counts memberlist's suspicions
// and failure verdicts, and its missed direct probes, by pool.
type suspicionWatch struct {
	mu     sync.Mutex
	count  map[string]int    // pool → suspicions and verdicts
	first  map[string]string // pool → the first one
	missed map[string]int    // pool → direct probes without an ack in time
}

func newSuspicionWatch() *suspicionWatch {
	return &suspicionWatch{count: map[string]int{}, first: map[string]string{}, missed: map[string]int{}}
}

// handle counts r if it is a suspicion, a verdict or a refutation: a
// prober that got no ack, directly or through others, suspects ("Suspect
// x has failed, no acks received"); a suspicion that runs out is a verdict
// ("Marking x as failed"); a live node that hears it is suspected refutes
// it ("Refuting a suspect message").
func (w *suspicionWatch) handle(pool string, r slog.Record) {
	m := r.Message
	if strings.HasPrefix(m, "Failed UDP ping") {
		// A probe that got no direct ack in time (the indirect probes
		// may still get one).
		w.mu.Lock()
		w.missed[pool]++
		w.mu.Unlock()
		return
	}
	if !(strings.HasPrefix(m, "Suspect ") && strings.Contains(m, "has failed")) &&
		!strings.HasPrefix(m, "Marking ") && !strings.HasPrefix(m, "Refuting a suspect") {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.count[pool]++
	if _, ok := w.first[pool]; !ok {
		w.first[pool] = m
	}
}

// counts returns the count by pool, and the first of each.
func (w *suspicionWatch) counts() (map[string]int, map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.count), maps.Clone(w.first)
}

// missedProbes returns the missed direct probes by pool.
func (w *suspicionWatch) missedProbes() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.missed)
}

// logger is a logger whose pool loggers (With "pool") report to w.
func (w *suspicionWatch) logger() *slog.Logger { return slog.New(poolHandler{w: w}) }

type poolHandler struct {
	w    *suspicionWatch
	pool string
}

func (h poolHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h poolHandler) Handle(_ context.Context, r slog.Record) error {
	h.w.handle(h.pool, r)
	return nil
}

func (h poolHandler) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		if a.Key == "pool" {
			h.pool = a.Value.String()
		}
	}
	return h
}

func (h poolHandler) WithGroup(string) slog.Handler { return h }

// idleWindow is how long TestIdleFleetAcrossRegions watches: 66 probe
// rounds of the region pools (300 ms), 4 of the WAN pool (5 s) for each of
// its 6 members.
const idleWindow = 20 * time.Second

// TestIdleFleetAcrossRegions: three regions of a control plane and two
// edges, 150 ms apart one way with 1 % of the packets between regions
// lost, the region pools on the lan profile and the WAN pool on the wan
// profile, gossip encrypted, as in production. Left idle for idleWindow
// (the edges only measuring their load, which wobbles), nobody is
// suspected in the WAN pool, nobody is declared dead, each region pool
// holds its region's nodes only, and a node sends
// less than 1 KB/s of gossip on average. The same fleet in one flat pool
// with the lan timing suspects live nodes (which shows that the injected
// delay bites); the two fleets run side by side.
//
// A host so busy that the region pools, which no delay touches, suspect
// their own nodes cannot judge the WAN pool: the test then says so and
// skips (such a stall can make a region pick another WAN member for a
// while, whose comings and goings the WAN pool may suspect).
func TestIdleFleetAcrossRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("watches an idle fleet for 20 s")
	}
	tests := []struct {
		name  string
		pools bool
	}{
		{"a pool per region and a WAN pool", true},
		{"one flat pool (control)", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newTestFleet(t, 150*time.Millisecond, 150*time.Millisecond, WANConfig{Members: 1, Profile: ProfileWAN})
			f.loss = 0.01
			watch := newSuspicionWatch()
			for _, r := range []string{"a", "b", "c"} {
				if !tc.pools {
					// One pool: everyone joins through region a's first node.
					f.mu.Lock()
					if s, ok := f.regionSeed["a"]; ok {
						f.regionSeed[r] = s
					}
					f.mu.Unlock()
				}
				f.add("cp-"+r, r, RoleControlPlane, tc.pools, withLogger(watch.logger()), withKeys(key(1)))
				for _, id := range []string{"edge-" + r + "1", "edge-" + r + "2"} {
					f.add(id, r, RoleEdge, tc.pools, withLogger(watch.logger()), withKeys(key(1)))
				}
			}
			if !tc.pools {
				waitFor(t, idleWindow, "a false suspicion in the flat pool", func() bool {
					c, _ := watch.counts()
					return c["lan"] > 0
				})
				c, first := watch.counts()
				t.Logf("flat pool with lan timing: %d suspicions, the first %q", c["lan"], first["lan"])
				return
			}
			f.waitWhole(t, 60*time.Second)
			// Joins leave broadcasts and syncs behind: wait until they are
			// out before counting what idleness costs.
			waitFor(t, 30*time.Second, "every broadcast queue drained", func() bool {
				for _, tn := range f.all() {
					if tn.lan.queue.NumQueued() > 0 || (tn.wan != nil && tn.wan.queue.NumQueued() > 0) {
						return false
					}
				}
				return true
			})
			nodes := f.all()
			before := make([]Traffic, len(nodes))
			beforeWAN := make([]Traffic, len(nodes))
			for i, n := range nodes {
				before[i], beforeWAN[i] = n.Traffic(), n.WANTraffic()
			}
			start := time.Now()
			c0, _ := watch.counts()
			m0 := watch.missedProbes()
			// An idle edge still measures its load every 2 s (edge/gossipmember),
			// and its CPU wobbles by a fraction of a point.
			stopLoad := make(chan struct{})
			var loads sync.WaitGroup
			loads.Go(func() {
				tick := time.NewTicker(2 * time.Second)
				defer tick.Stop()
				for {
					for _, n := range nodes {
						if n.Meta().Role == RoleEdge {
							n.SetLoad(Load{CPU: 0.2 + rand.Float64()})
						}
					}
					select {
					case <-tick.C:
					case <-stopLoad:
						return
					}
				}
			})
			time.Sleep(idleWindow)
			close(stopLoad)
			loads.Wait()
			secs := time.Since(start).Seconds()
			c1, first := watch.counts()
			m1 := watch.missedProbes()
			for _, n := range nodes {
				n.mu.Lock()
				for id, m := range n.lan.members {
					if m.Meta.Region != f.regionOf(n) {
						t.Errorf("%s's region pool holds %s of region %q", n.ID(), id, m.Meta.Region)
					}
				}
				n.mu.Unlock()
			}
			var sum float64
			for i, n := range nodes {
				tr, wtr := n.Traffic(), n.WANTraffic()
				sent := float64(tr.SentBytes-before[i].SentBytes) / secs
				recv := float64(tr.ReceivedBytes-before[i].ReceivedBytes) / secs
				wanSent := float64(wtr.SentBytes-beforeWAN[i].SentBytes) / secs
				sum += sent
				t.Logf("%-8s relaying %-5v sent %4.0f B/s (WAN pool %4.0f B/s), received %4.0f B/s", n.ID(), n.Relaying(), sent, wanSent, recv)
			}
			// One node's figure depends on whether one of its full-state
			// syncs (every 60 s, a few KB over TCP) falls in the window;
			// the mean over the fleet is the steady cost.
			mean := sum / float64(len(nodes))
			t.Logf("idle gossip over %.0f s: %.0f B/s sent per node on average", secs, mean)
			// Only the WAN pool's probes cross a region boundary; a region
			// pool's probe that misses its ack here went to a node on the
			// same host, with no delay nor loss: a starved CPU, which also
			// costs extra traffic (indirect probes, suspicions).
			if n, s := m1["lan"]-m0["lan"], c1["lan"]-c0["lan"]; n+s > 0 {
				t.Skipf("the host starved the region pools (%d probes without an ack in time, %d suspicions inside a region): neither the WAN pool nor the idle cost can be judged", n, s)
			}
			if n := c1["wan"] - c0["wan"]; n > 0 {
				t.Errorf("%d suspicions in the WAN pool of an idle fleet, the first %q", n, first["wan"])
			}
			var fails []recEvent
			for _, e := range f.rec.failures() {
				if !e.at.Before(start) {
					fails = append(fails, e)
				}
			}
			if len(fails) > 0 {
				t.Errorf("%d false failures in an idle fleet, the first %+v", len(fails), fails[0])
			}
			if mean > idleBudget {
				t.Errorf("an idle node sends %.0f B/s of gossip on average, more than %d", mean, idleBudget)
			}
		})
	}
}

// idleBudget is the most gossip an idle node may send, in bytes per second.
const idleBudget = 1024
