package gossipbench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spacecast/spacecast/bench/scenario"
	"github.com/spacecast/spacecast/gossip"
)

// Config is the gossip scenario's settings (and its scenario-file
// format). An empty Common.Target is self-contained: in-process clusters of
// every size in Sizes. "gossip:host:port[,host:port...]" joins a running
// cluster through those seeds as an observer (see Observe); its keyring
// comes from the environment.
type Config struct {
	scenario.Common `yaml:",inline"`
	// Sizes are the cluster sizes to measure (self-contained).
	Sizes []int `yaml:"sizes" json:"sizes"`
	// Profile is the gossip profile (lan: the one the targets are for);
	// against a running cluster, the profile the cluster uses.
	Profile string `yaml:"profile" json:"profile"`
	// Joins is how many nodes join, one after the other, per size.
	Joins int `yaml:"joins" json:"joins"`
	// Kills is how many nodes crash, one after the other, per size.
	Kills int `yaml:"kills" json:"kills"`
	// Idle is the window over which idle traffic is measured, after Quiet
	// (default 15 s: longer than the triggered-sync interval, 10 s at
	// N = 200) for the formation's broadcasts and syncs to settle.
	Idle  time.Duration `yaml:"idle" json:"idle"`
	Quiet time.Duration `yaml:"quiet" json:"quiet"`
	// Encrypt runs the cluster with a keyring (as in production).
	Encrypt bool `yaml:"encrypt" json:"encrypt"`
	// Timeout bounds each wait (formation, one join, one failure).
	Timeout time.Duration `yaml:"timeout" json:"timeout"`

	// Against a running cluster: Probes is how many short-lived probe
	// nodes join and crash; Settle is how long the observer's member count
	// must stay unchanged to count as converged; Bind is the address the
	// observer and the probes listen on (host:port, port 0 for any; empty:
	// the address this machine reaches the first seed from); Region is
	// their region.
	Probes int           `yaml:"probes" json:"probes,omitempty"`
	Settle time.Duration `yaml:"settle" json:"settle,omitempty"`
	Bind   string        `yaml:"bind" json:"bind,omitempty"`
	Region string        `yaml:"region" json:"region,omitempty"`
	// Keys is the running cluster's keyring, from the environment.
	Keys [][]byte `yaml:"-" json:"-"`
}

// DefaultConfig is `spacecast bench gossip` without flags.
func DefaultConfig() Config {
	return Config{
		Common:  scenario.Common{Scenario: "gossip"},
		Sizes:   []int{10, 50, 200},
		Profile: gossip.ProfileLAN,
		Joins:   20,
		Kills:   5,
		Idle:    20 * time.Second,
		Quiet:   15 * time.Second,
		Encrypt: true,
		Timeout: 60 * time.Second,
		Probes:  5,
		Settle:  3 * time.Second,
		Region:  "bench",
	}
}

// Row is the measurement at one cluster size. Times are in milliseconds.
type Row struct {
	N int `json:"n"`
	// FormMs is how long the N nodes took to all see each other.
	FormMs float64 `json:"formMs"`
	// JoinP50Ms / JoinP99Ms: time from a node starting to join until every
	// member has it, over Joins joins. JoinObserverP99Ms is the p99 over
	// every (join, member) pair.
	JoinP50Ms         float64 `json:"joinP50Ms"`
	JoinP99Ms         float64 `json:"joinP99Ms"`
	JoinObserverP99Ms float64 `json:"joinObserverP99Ms"`
	// DetectFirstP50Ms: crash until the first member declares it dead.
	// DetectAllP50Ms / DetectAllP99Ms: until every member has.
	DetectFirstP50Ms float64 `json:"detectFirstP50Ms"`
	DetectAllP50Ms   float64 `json:"detectAllP50Ms"`
	DetectAllP99Ms   float64 `json:"detectAllP99Ms"`
	// IdleBytesPerSec is the mean bytes sent per node per second while
	// nothing changes (UDP and TCP payload, encrypted); IdleMaxBytesPerSec
	// the busiest node's.
	IdleBytesPerSec    float64 `json:"idleBytesPerSec"`
	IdleMaxBytesPerSec float64 `json:"idleMaxBytesPerSec"`
	// FalseFailures counts nodes declared dead that were alive, over the
	// whole run at this size.
	FalseFailures int `json:"falseFailures"`
	// Missed counts joins or failures not seen everywhere within Timeout
	// (len(MissedWhat)); MissedWhat says which, and by whom.
	Missed     int      `json:"missed"`
	MissedWhat []string `json:"missedWhat,omitempty"`

	// The samples behind the percentiles, in milliseconds: join until
	// every member has it, failure until every member and until the first
	// declared it.
	joinAll, detectAll, detectFirst []float64
}

// Report is a run's result.
type Report struct {
	Start  time.Time `json:"start"`
	Config Config    `json:"config"`
	Rows   []Row     `json:"rows"`
}

// formWave is how many nodes start at once while a cluster forms.
const formWave = 10

// inProcessGCPercent is GOGC while in-process clusters run (see Measure).
const inProcessGCPercent = 400

// Progress receives a line of progress (may be nil).
type Progress func(format string, args ...any)

// Measure runs in-process clusters of every size in cfg.
func Measure(ctx context.Context, cfg Config, progress Progress) (Report, error) {
	if progress == nil {
		progress = func(string, ...any) {}
	}
	if len(cfg.Sizes) == 0 || slices.ContainsFunc(cfg.Sizes, func(n int) bool { return n < 2 }) {
		return Report{}, errors.New("gossipbench: sizes must be at least 2")
	}
	if _, err := gossip.ProfileTiming(cfg.Profile); err != nil {
		return Report{}, err
	}
	// N nodes share this process's heap, so its garbage collector works N
	// times as hard as one node's would (each node runs in its own process
	// in a deployment) and its pauses land on every node at once: at
	// N = 200 that alone makes probes time out. A larger GC target brings
	// the collector's share back towards one node's.
	defer debug.SetGCPercent(debug.SetGCPercent(inProcessGCPercent))
	rep := Report{Start: time.Now(), Config: cfg}
	for _, n := range cfg.Sizes {
		progress("N=%d: starting", n)
		row, err := runSize(ctx, cfg, n, progress)
		if err != nil {
			return rep, fmt.Errorf("gossipbench: N=%d: %w", n, err)
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// seen records when each observer saw each (subject, kind).
type seen struct {
	mu sync.Mutex
	at map[seenKey]time.Time
	// alive lists subjects that are up: a failure event about one of them
	// is a false positive.
	alive  map[string]bool
	falseF int
}

type seenKey struct {
	observer, subject string
	kind              gossip.EventKind
}

func (s *seen) record(observer string) func(gossip.Event) {
	return func(e gossip.Event) {
		now := time.Now()
		s.mu.Lock()
		defer s.mu.Unlock()
		k := seenKey{observer, e.Member.ID(), e.Kind}
		if _, ok := s.at[k]; !ok {
			s.at[k] = now
		}
		if e.Kind == gossip.EventFail && s.alive[e.Member.ID()] {
			s.falseF++
		}
	}
}

// times returns when each observer saw (subject, kind), and how many did.
func (s *seen) times(observers []string, subject string, kind gossip.EventKind) ([]time.Time, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, o := range observers {
		if t, ok := s.at[seenKey{o, subject, kind}]; ok {
			out = append(out, t)
		}
	}
	return out, len(out)
}

// missing lists the observers that did not see (subject, kind), with what
// they saw of subject instead.
func (s *seen) missing(observers []string, subject string, kind gossip.EventKind) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, o := range observers {
		if _, ok := s.at[seenKey{o, subject, kind}]; ok {
			continue
		}
		var saw []string
		for _, k := range []gossip.EventKind{gossip.EventJoin, gossip.EventUpdate, gossip.EventLeave, gossip.EventFail} {
			if _, ok := s.at[seenKey{o, subject, k}]; ok {
				saw = append(saw, fmt.Sprint(k))
			}
		}
		out = append(out, fmt.Sprintf("%s (saw %v)", o, saw))
	}
	return out
}

func (s *seen) setAlive(id string, alive bool) {
	s.mu.Lock()
	s.alive[id] = alive
	s.mu.Unlock()
}

type benchNode struct {
	*gossip.Node
	cancel context.CancelFunc
	done   chan struct{}
	unsub  func()
}

func (b *benchNode) stop() {
	b.cancel()
	<-b.done
	b.unsub()
}

type cluster struct {
	cfg   Config
	keys  [][]byte
	seen  *seen
	log   *slog.Logger
	nodes []*benchNode
	// observer is set when the nodes started are the observer and probes
	// of a running cluster: they bind bind, take the controlplane role (so
	// placement never sends a room to them) and announce no address.
	observer bool
	bind     string
}

func (c *cluster) start(ctx context.Context, id string, seeds []string, leave bool) (*benchNode, error) {
	bind, role, region := "127.0.0.1:0", gossip.RoleEdge, "bench"
	if c.observer {
		bind, role, region = c.bind, gossip.RoleControlPlane, cmp.Or(c.cfg.Region, "bench")
	}
	pc, ln, err := gossip.Listen(bind)
	if err != nil {
		return nil, err
	}
	gc := gossip.Default()
	gc.NodeID, gc.Role, gc.Region, gc.Profile, gc.BindAddr = id, role, region, c.cfg.Profile, bind
	gc.Seeds, gc.LeaveOnStop = seeds, leave
	n, err := gossip.New(gc, gossip.Deps{PacketConn: pc, Listener: ln, Keyring: c.keys, Logger: c.log})
	if err != nil {
		_ = pc.Close()
		_ = ln.Close()
		return nil, err
	}
	// A realistic metadata size: an edge's URLs and load. An observer
	// announces nothing anyone could use.
	meta := gossip.Meta{
		SignalURL: "wss://" + id + ".bench.example.com",
		TURNURLs:  []string{"turn:" + id + ".bench.example.com:3478?transport=udp", "turns:" + id + ".bench.example.com:5349"},
		RelayAddr: "198.18.0.1:7881", ProbeURL: "https://" + id + ".bench.example.com/probe",
		MaxParticipants: 1000, Version: "bench",
	}
	if c.observer {
		meta = gossip.Meta{Version: "bench-observer", Draining: true}
	}
	if err := n.UpdateMeta(meta); err != nil {
		return nil, err
	}
	unsub := n.Subscribe(c.seen.record(id))
	c.seen.setAlive(id, true)
	rctx, cancel := context.WithCancel(ctx)
	b := &benchNode{Node: n, cancel: cancel, done: make(chan struct{}), unsub: unsub}
	go func() {
		defer close(b.done)
		_ = n.Run(rctx)
	}()
	return b, nil
}

func (c *cluster) ids() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.ID()
	}
	return out
}

func (c *cluster) stopAll() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		c.seen.setAlive(n.ID(), false)
		wg.Go(n.stop)
	}
	wg.Wait()
	c.nodes = nil
}

// waitAll polls until every node sees want members.
func (c *cluster) waitAll(ctx context.Context, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, n := range c.nodes {
			if len(n.Nodes()) != want {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster did not converge to %d members in %v (%s)", want, timeout, c.views(want))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// views describes the nodes that do not see want members: how many see
// how many, and the first few by name.
func (c *cluster) views(want int) string {
	counts := map[int]int{}
	var odd []string
	disagree := 0
	for _, n := range c.nodes {
		got := len(n.Nodes())
		if got == want {
			continue
		}
		disagree++
		counts[got]++
		if len(odd) < 5 {
			odd = append(odd, fmt.Sprintf("%s sees %d", n.ID(), got))
		}
	}
	return fmt.Sprintf("%d of %d nodes disagree: member counts %v, e.g. %s", disagree, len(c.nodes), counts, strings.Join(odd, ", "))
}

func runSize(ctx context.Context, cfg Config, size int, progress Progress) (Row, error) {
	c := &cluster{cfg: cfg, seen: &seen{at: map[seenKey]time.Time{}, alive: map[string]bool{}},
		log: slog.New(slog.DiscardHandler)}
	if cfg.Encrypt {
		c.keys = [][]byte{[]byte("spacecast-bench-gossip-key-32-b!")}
	}
	defer c.stopAll()
	row := Row{N: size}

	// Formation: the nodes join through a handful of seeds, in waves of
	// formWave (a fleet boots by rollout, not all at one instant), each wave
	// given time to converge before the next.
	t0 := time.Now()
	for i := range size {
		var seeds []string
		for j := 0; j < min(i, 3); j++ {
			seeds = append(seeds, c.nodes[j].Addr())
		}
		b, err := c.start(ctx, "n"+strconv.Itoa(i), seeds, false)
		if err != nil {
			return row, err
		}
		c.nodes = append(c.nodes, b)
		if len(c.nodes)%formWave == 0 || len(c.nodes) == size {
			if err := c.waitAll(ctx, len(c.nodes), cfg.Timeout); err != nil {
				return row, err
			}
		}
	}
	row.FormMs = ms(time.Since(t0))
	progress("N=%d: formed in %.0f ms", size, row.FormMs)

	// Idle traffic: let the formation's broadcasts and syncs settle first.
	if err := sleep(ctx, cmp.Or(cfg.Quiet, 15*time.Second)); err != nil {
		return row, err
	}
	before := make([]uint64, len(c.nodes))
	for i, n := range c.nodes {
		before[i] = n.Traffic().SentBytes
	}
	it0 := time.Now()
	if err := sleep(ctx, cfg.Idle); err != nil {
		return row, err
	}
	secs := time.Since(it0).Seconds()
	var sum float64
	for i, n := range c.nodes {
		rate := float64(n.Traffic().SentBytes-before[i]) / secs
		sum += rate
		row.IdleMaxBytesPerSec = max(row.IdleMaxBytesPerSec, rate)
	}
	row.IdleBytesPerSec = sum / float64(len(c.nodes))
	progress("N=%d: idle %.0f B/s per node", size, row.IdleBytesPerSec)

	// Joins: one node at a time joins through a random member, is timed
	// until everyone has it, then leaves gracefully.
	var joinAll, joinEach []float64
	for j := range cfg.Joins {
		id := "join" + strconv.Itoa(j)
		seed := c.nodes[rand.IntN(len(c.nodes))].Addr()
		jt := time.Now()
		b, err := c.start(ctx, id, []string{seed}, true)
		if err != nil {
			return row, err
		}
		observers := c.ids()
		done := waitSeen(ctx, c.seen, observers, id, gossip.EventJoin, cfg.Timeout)
		times, got := c.seen.times(observers, id, gossip.EventJoin)
		if !done || got < len(observers) {
			row.MissedWhat = append(row.MissedWhat, fmt.Sprintf("N=%d: join of %s not seen by %v", size, id, c.seen.missing(observers, id, gossip.EventJoin)))
		}
		var last time.Time
		for _, t := range times {
			joinEach = append(joinEach, ms(t.Sub(jt)))
			if t.After(last) {
				last = t
			}
		}
		if done {
			joinAll = append(joinAll, ms(last.Sub(jt)))
		}
		c.seen.setAlive(id, false)
		b.stop()
		waitSeen(ctx, c.seen, observers, id, gossip.EventLeave, cfg.Timeout)
	}
	row.JoinP50Ms, row.JoinP99Ms = pct(joinAll, 50), pct(joinAll, 99)
	row.JoinObserverP99Ms = pct(joinEach, 99)
	row.joinAll = joinAll
	progress("N=%d: join p50 %.0f ms, p99 %.0f ms", size, row.JoinP50Ms, row.JoinP99Ms)

	// Failures: a random member (never the first seeds) crashes: no leave.
	var first, all []float64
	for range min(cfg.Kills, len(c.nodes)-4) {
		i := 3 + rand.IntN(len(c.nodes)-3)
		victim := c.nodes[i]
		c.nodes = slices.Delete(c.nodes, i, i+1)
		c.seen.setAlive(victim.ID(), false)
		kt := time.Now()
		victim.stop()
		observers := c.ids()
		done := waitSeen(ctx, c.seen, observers, victim.ID(), gossip.EventFail, cfg.Timeout)
		times, _ := c.seen.times(observers, victim.ID(), gossip.EventFail)
		if !done {
			row.MissedWhat = append(row.MissedWhat, fmt.Sprintf("N=%d: crash of %s not seen by %v (%s)", size, victim.ID(), c.seen.missing(observers, victim.ID(), gossip.EventFail), c.views(len(c.nodes))))
		}
		if len(times) == 0 {
			continue
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		first = append(first, ms(times[0].Sub(kt)))
		if done {
			all = append(all, ms(times[len(times)-1].Sub(kt)))
		}
	}
	row.DetectFirstP50Ms = pct(first, 50)
	row.DetectAllP50Ms, row.DetectAllP99Ms = pct(all, 50), pct(all, 99)
	row.detectAll, row.detectFirst = all, first
	progress("N=%d: failure detected everywhere p50 %.0f ms, p99 %.0f ms", size, row.DetectAllP50Ms, row.DetectAllP99Ms)

	row.Missed = len(row.MissedWhat)
	c.seen.mu.Lock()
	row.FalseFailures = c.seen.falseF
	c.seen.mu.Unlock()
	return row, nil
}

// waitSeen polls until every observer saw (subject, kind).
func waitSeen(ctx context.Context, s *seen, observers []string, subject string, kind gossip.EventKind, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if _, n := s.times(observers, subject, kind); n == len(observers) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pct is the p-th percentile (nearest rank) of vs; 0 when empty.
func pct(vs []float64, p float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
