package relay

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/internal/retry"
)

// peer is what this edge keeps for one other edge: the link in use, what
// this edge wants of it (subscriptions, holds), which survives links, and
// the dialer that keeps a link up while something is wanted.
type peer struct {
	r    *Relay
	node string

	mu      sync.Mutex
	link    *link
	subs    map[uint32]*Subscription
	holds   int
	dialing bool

	// inbound is the subscriptions by channel, read by the datagram reader
	// without a lock (copy on write under mu).
	inbound atomic.Pointer[map[uint32]*Subscription]

	// Counters over every link to the peer, and the Prometheus children.
	dgSent, dgRecv, bSent, bRecv, drops, connects atomic.Uint64
	mSent, mRecv, mBSent, mBRecv                  prometheus.Counter
	mDropQueue, mDropLarge, mDropChannel          prometheus.Counter
	// Bytes sent by layer and kind.
	bLayer  [MaxLayers][NumKinds]atomic.Uint64
	mBLayer [MaxLayers][NumKinds]prometheus.Counter
}

func newPeer(r *Relay, node string) *peer {
	p := &peer{r: r, node: node, subs: map[uint32]*Subscription{}}
	p.inbound.Store(&map[uint32]*Subscription{})
	m := r.m
	p.mSent = m.DatagramsSent.WithLabelValues(node)
	p.mRecv = m.DatagramsReceived.WithLabelValues(node)
	p.mBSent = m.BytesSent.WithLabelValues(node)
	p.mBRecv = m.BytesReceived.WithLabelValues(node)
	p.mDropQueue = m.Dropped.WithLabelValues(node, "queue")
	p.mDropLarge = m.Dropped.WithLabelValues(node, "too_large")
	p.mDropChannel = m.Dropped.WithLabelValues(node, "channel")
	for q := range MaxLayers {
		for k := range NumKinds {
			p.mBLayer[q][k] = m.LayerBytesSent.WithLabelValues(node, strconv.Itoa(q), k.String())
		}
	}
	return p
}

func (p *peer) current() *link {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.link
}

// wanted reports whether something is wanted of the peer. Called with mu
// held.
func (p *peer) wantedLocked() bool { return len(p.subs) > 0 || p.holds > 0 }

// ensureDialerLocked starts the dialer if something is wanted, no link is
// up, none runs and the relay runs. Called with mu held.
func (p *peer) ensureDialerLocked() {
	if p.dialing || p.link != nil || !p.wantedLocked() {
		return
	}
	if p.r.spawn(p.dial) {
		p.dialing = true
	}
}

// dial keeps a link to the peer up while something is wanted of it and no
// link is, with a jittered backoff between failed attempts.
//
// Of two edges that want each other at once, the one with the larger node
// id waits a moment before its first dial: the other's dial wins the
// tie-break anyway (adopt), and a connection both dial then closes, which
// would leave a gap while the winner's handshake completes.
func (p *peer) dial() {
	ctx := p.r.ctx
	attempt := 0
	if p.r.node > p.node {
		attempt = 1
	}
	for {
		p.mu.Lock()
		if p.link != nil || !p.wantedLocked() || ctx.Err() != nil {
			p.dialing = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if attempt > 0 {
			if !retry.Sleep(ctx, retry.Backoff(p.r.cfg.RedialMin, p.r.cfg.RedialMax, attempt)) {
				continue // ctx ended: the check above returns
			}
		}
		attempt++
		if p.current() != nil {
			continue // a link arrived while we waited
		}
		if err := p.dialOnce(ctx); err != nil {
			p.r.log.Debug("relay dial failed", "peer", p.node, "attempt", attempt, "err", err)
			continue
		}
		attempt = 0
	}
}

func (p *peer) dialOnce(ctx context.Context) error {
	addr, ok := p.r.cfg.Resolve(p.node)
	if !ok {
		return ErrNoLink
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, p.r.cfg.IdleTimeout)
	defer cancel()
	conn, err := p.r.tr.Dial(dctx, ua, p.r.cfg.Identity.ClientTLS(p.node), p.r.qcfg)
	if err != nil {
		p.r.m.Handshakes.WithLabelValues("refused").Inc()
		return err
	}
	st, err := conn.OpenStream()
	if err != nil {
		_ = conn.CloseWithError(codeProtocol, "no stream")
		return err
	}
	l := newLink(p.r, p, conn, st, p.r.node)
	l.hello()
	p.r.m.Handshakes.WithLabelValues("ok").Inc()
	p.adopt(l)
	return nil
}

// adopt makes l the peer's link unless a better one is up: of two links
// between the same pair, the one dialed by the smaller node id wins (both
// ends decide alike); of two dialed by the same edge, the newer. The
// subscriptions are stated again on the new link.
func (p *peer) adopt(l *link) {
	p.mu.Lock()
	old := p.link
	if old != nil && !old.isDone() && !l.beats(old) {
		p.mu.Unlock()
		l.close(codeSuperseded, "superseded")
		l.start() // its goroutines see the close and finish
		return
	}
	p.link = l
	p.connects.Add(1)
	subs := make([]*Subscription, 0, len(p.subs))
	for _, s := range p.subs {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	p.r.m.Links.Inc()
	if old != nil {
		old.close(codeSuperseded, "superseded")
	}
	l.start()
	for _, s := range subs {
		l.send(s.subscribeMsg())
	}
	if p.r.cfg.OnLink != nil {
		p.r.cfg.OnLink(p.node, true)
	}
}

// dropped is called by a link's teardown.
func (p *peer) dropped(l *link) {
	p.mu.Lock()
	was := p.link == l
	if was {
		p.link = nil
		p.ensureDialerLocked()
	}
	p.mu.Unlock()
	if was {
		p.r.m.Links.Dec()
		if p.r.cfg.OnLink != nil {
			p.r.cfg.OnLink(p.node, false)
		}
	}
}

func (p *peer) closeLink(why string) {
	if l := p.current(); l != nil {
		l.close(codeClosing, why)
	}
}

func (p *peer) addSub(s *Subscription) {
	p.mu.Lock()
	p.subs[s.ch] = s
	p.publishInbound()
	l := p.link
	p.ensureDialerLocked()
	p.mu.Unlock()
	if l != nil {
		l.send(s.subscribeMsg())
	}
}

func (p *peer) removeSub(s *Subscription) {
	p.mu.Lock()
	delete(p.subs, s.ch)
	p.publishInbound()
	l := p.link
	p.mu.Unlock()
	if l != nil {
		l.send(&msg{typ: msgUnsubscribe, ch: s.ch})
	}
}

func (p *peer) hold(delta int) {
	p.mu.Lock()
	p.holds += delta
	p.ensureDialerLocked()
	p.mu.Unlock()
}

// publishInbound republishes the channel map. Called with mu held.
func (p *peer) publishInbound() {
	n := make(map[uint32]*Subscription, len(p.subs))
	for ch, s := range p.subs {
		n[ch] = s
	}
	p.inbound.Store(&n)
}

// control queues m on the current link; false when there is none.
func (p *peer) control(m *msg) bool {
	l := p.current()
	if l == nil {
		return false
	}
	return l.send(m)
}

func (p *peer) stats() LinkStats {
	s := LinkStats{
		DatagramsSent: p.dgSent.Load(), DatagramsReceived: p.dgRecv.Load(),
		BytesSent: p.bSent.Load(), BytesReceived: p.bRecv.Load(),
		Dropped: p.drops.Load(), Connects: p.connects.Load(),
	}
	for q := range MaxLayers {
		for k := range NumKinds {
			s.LayerBytesSent[q][k] = p.bLayer[q][k].Load()
		}
	}
	if l := p.current(); l != nil {
		s.RTT = l.rtt()
	}
	return s
}
