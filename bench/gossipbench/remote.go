package gossipbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/spacecast/spacecast/bench/hist"
	"github.com/spacecast/spacecast/bench/progress"
	"github.com/spacecast/spacecast/bench/result"
	"github.com/spacecast/spacecast/gossip"
)

// observe joins the running cluster through its seeds as an observer node
// and measures what one member can see from outside:
//
//   - its own join: the time until its member count stops changing (for
//     Settle), and how many members it then sees;
//   - idle traffic: the bytes it sends and receives per second while
//     nothing changes (one member's share of the cluster's gossip);
//   - Probes times, a short-lived probe node joins through the seeds (not
//     through the observer) and then crashes (it stops without leaving):
//     the time until the observer sees it join, until the probe itself
//     sees every member, and until the observer sees it declared dead.
//
// Both take the controlplane role and announce no address, so placement
// never chooses them. A crashed probe stays in the members' lists as dead
// for the profile's reconnect timeout, as any crashed node does.
func (b *Bench) observe(ctx context.Context, p *progress.Printer, r *result.Result) error {
	bind, err := b.bindAddr()
	if err != nil {
		return err
	}
	tag := make([]byte, 4)
	_, _ = rand.Read(tag)
	prefix := "bench-" + hex.EncodeToString(tag)
	c := &cluster{cfg: b.cfg, keys: b.cfg.Keys, seen: &seen{at: map[seenKey]time.Time{}, alive: map[string]bool{}},
		log: slog.New(slog.DiscardHandler), observer: true, bind: bind}
	defer c.stopAll()

	p.Printf("gossip bench: observing the cluster at %v from %s (profile %s, %d probes)", b.seeds, bind, b.cfg.Profile, b.cfg.Probes)
	t0 := time.Now()
	obs, err := c.start(ctx, prefix+"-observer", b.seeds, true)
	if err != nil {
		return fmt.Errorf("gossipbench: observer: %w", err)
	}
	c.nodes = append(c.nodes, obs)
	members, converged, err := settle(ctx, p, obs, b.cfg.Settle, b.cfg.Timeout)
	if err != nil {
		return err
	}
	converge := converged.Sub(t0)
	p.Printf("observer sees %d members (itself included) after %.0f ms", members, ms(converge))
	r.Add("members", result.UnitCount, float64(members), "members the observer sees once its view settled, itself included")
	r.Add("observer_converge", result.UnitMs, ms(converge), "from the observer starting to join until its member count last changed")

	// Idle traffic of one member.
	tr0, it0 := obs.Traffic(), time.Now()
	if err := sleep(ctx, b.cfg.Idle); err != nil {
		return err
	}
	tr1, secs := obs.Traffic(), time.Since(it0).Seconds()
	sent, recv := float64(tr1.SentBytes-tr0.SentBytes)/secs, float64(tr1.ReceivedBytes-tr0.ReceivedBytes)/secs
	p.Printf("observer idle traffic: %.0f B/s sent, %.0f B/s received", sent, recv)
	r.Add("idle_bytes_per_node", result.UnitBytesPerSec, sent, "bytes the observer sent per second while nothing changed (one member's idle gossip)")
	r.Add("idle_received_bytes_per_node", result.UnitBytesPerSec, recv, "bytes the observer received per second in the same window")

	joinSeen, probeConverge, detect := hist.New(), hist.New(), hist.New()
	missed := 0
	for i := range b.cfg.Probes {
		id := fmt.Sprintf("%s-probe-%d", prefix, i)
		pt := time.Now()
		probe, err := c.start(ctx, id, b.seeds, false)
		if err != nil {
			return fmt.Errorf("gossipbench: probe: %w", err)
		}
		observers := []string{obs.ID()}
		var dJoin, dConv, dDetect time.Duration
		if waitSeen(ctx, c.seen, observers, id, gossip.EventJoin, b.cfg.Timeout) {
			at, _ := c.seen.times(observers, id, gossip.EventJoin)
			dJoin = at[0].Sub(pt)
			joinSeen.RecordDuration(dJoin)
		} else {
			missed++
		}
		// The probe's own view: every member, the observer and itself.
		deadline := time.Now().Add(b.cfg.Timeout)
		for len(probe.Nodes()) < members+1 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		if len(probe.Nodes()) >= members+1 {
			dConv = time.Since(pt)
			probeConverge.RecordDuration(dConv)
		} else {
			missed++
		}
		// Crash: stop without leaving.
		c.seen.setAlive(id, false)
		kt := time.Now()
		probe.stop()
		if waitSeen(ctx, c.seen, observers, id, gossip.EventFail, b.cfg.Timeout) {
			at, _ := c.seen.times(observers, id, gossip.EventFail)
			dDetect = at[0].Sub(kt)
			detect.RecordDuration(dDetect)
		} else {
			missed++
		}
		p.Printf("probe %d of %d: seen joining after %.0f ms, saw every member after %.0f ms, declared dead after %.0f ms",
			i+1, b.cfg.Probes, ms(dJoin), ms(dConv), ms(dDetect))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if b.cfg.Probes > 0 {
		r.AddLatency("probe_join", joinSeen)
		r.AddLatency("probe_converge", probeConverge)
		r.AddLatency("probe_detect", detect)
		r.AddCheck("every probe seen joining and failing", missed == 0, fmt.Sprintf("%d of %d waits timed out after %s", missed, 3*b.cfg.Probes, b.cfg.Timeout))
	}
	// Members of the cluster itself that failed while the bench watched.
	failed := 0
	c.seen.mu.Lock()
	for k := range c.seen.at {
		if k.observer == obs.ID() && k.kind == gossip.EventFail && !strings.HasPrefix(k.subject, prefix) {
			failed++
		}
	}
	c.seen.mu.Unlock()
	r.Add("member_failures", result.UnitCount, float64(failed), "members of the cluster (not the probes) the observer saw declared dead during the run")
	if failed > 0 {
		r.Warn("%d members of the cluster were declared dead during the run", failed)
	}
	return nil
}

// settle waits until n's member count has not changed for quiet, and
// returns the count and when it last changed.
func settle(ctx context.Context, p *progress.Printer, n *benchNode, quiet, timeout time.Duration) (int, time.Time, error) {
	deadline := time.Now().Add(timeout)
	count, changed := len(n.Nodes()), time.Now()
	for {
		if now := time.Now(); count > 1 && now.Sub(changed) >= quiet {
			return count, changed, nil
		}
		if time.Now().After(deadline) {
			return 0, time.Time{}, fmt.Errorf("gossipbench: the observer's view did not settle within %v (it sees %d members: is the seed reachable, the keyring right?)", timeout, count)
		}
		select {
		case <-ctx.Done():
			return 0, time.Time{}, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if c := len(n.Nodes()); c != count {
			count, changed = c, time.Now()
		}
		p.Update("observer sees %d members", count)
	}
}

// bindAddr is Bind, or this machine's address toward the first seed with
// port 0 (a UDP "connection" sends nothing; it only picks the route).
func (b *Bench) bindAddr() (string, error) {
	if b.cfg.Bind != "" {
		return b.cfg.Bind, nil
	}
	c, err := net.Dial("udp", b.seeds[0])
	if err != nil {
		return "", fmt.Errorf("gossipbench: no route to seed %s: %w", b.seeds[0], err)
	}
	defer c.Close()
	ip := c.LocalAddr().(*net.UDPAddr).IP
	return net.JoinHostPort(ip.String(), "0"), nil
}
