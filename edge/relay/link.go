package relay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// link is one QUIC connection to a peer edge: four goroutines (datagrams in
// and out, control in and out) and the subscriptions this edge serves on it.
type link struct {
	r      *Relay
	p      *peer
	conn   *quic.Conn
	st     *quic.Stream
	dialer string // node id of the edge that dialed
	born   time.Time
	ring   *sendRing

	cmu   sync.Mutex
	cbuf  []byte // encoded control messages waiting for the writer
	cwake chan struct{}

	// served is what the peer subscribed to here, by its channel ids
	// (control reader only, then the teardown).
	served map[uint32]*served
	seqs   []uint16 // control reader's NACK buffer

	done     chan struct{}
	doneOnce sync.Once
}

type served struct {
	feed Feed
	out  *Sender
}

func newLink(r *Relay, p *peer, conn *quic.Conn, st *quic.Stream, dialer string) *link {
	return &link{
		r: r, p: p, conn: conn, st: st, dialer: dialer, born: time.Now(),
		ring:   newSendRing(r.cfg.SendQueue),
		cwake:  make(chan struct{}, 1),
		served: map[uint32]*served{},
		done:   make(chan struct{}),
	}
}

// hello queues this edge's Hello, the first message each side sends.
func (l *link) hello() {
	l.send(&msg{typ: msgHello, version: protocolVersion, node: l.r.node})
}

// beats reports whether l should replace old as the link between the pair.
func (l *link) beats(old *link) bool {
	if l.dialer != old.dialer {
		return l.dialer < old.dialer
	}
	return l.born.After(old.born) || l.born.Equal(old.born)
}

func (l *link) isDone() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// close ends the connection (the peer is told code and why); the
// goroutines then finish and the teardown runs.
func (l *link) close(code quic.ApplicationErrorCode, why string) {
	l.doneOnce.Do(func() {
		close(l.done)
		_ = l.conn.CloseWithError(code, why)
	})
}

func (l *link) rtt() time.Duration { return l.conn.ConnectionStats().SmoothedRTT }

// start runs the link's goroutines and, once they have all returned, its
// teardown; the relay waits for them.
func (l *link) start() {
	ok := l.r.spawn(func() {
		var wg sync.WaitGroup
		for _, f := range []func(){l.readDatagrams, l.writeDatagrams, l.readControl, l.writeControl} {
			wg.Go(func() {
				defer l.close(codeClosing, "link ended")
				f()
			})
		}
		wg.Wait()
		l.teardown()
	})
	if !ok {
		l.close(codeClosing, "relay closing")
		l.teardown()
	}
}

// teardown closes what the peer subscribed to here and tells the peer.
func (l *link) teardown() {
	for ch, s := range l.served {
		s.out.closed.Store(true)
		s.feed.Close()
		delete(l.served, ch)
	}
	l.p.dropped(l)
}

// send queues m for the control writer; false when the link is down or its
// control queue full (counted).
func (l *link) send(m *msg) bool {
	l.cmu.Lock()
	if l.isDone() {
		l.cmu.Unlock()
		return false
	}
	if len(l.cbuf) > l.r.cfg.ControlQueue {
		l.cmu.Unlock()
		l.r.m.ControlDropped.Inc()
		return false
	}
	l.cbuf = appendMsg(l.cbuf, m)
	l.cmu.Unlock()
	select {
	case l.cwake <- struct{}{}:
	default:
	}
	return true
}

func (l *link) writeControl() {
	var out []byte
	for {
		select {
		case <-l.done:
			return
		case <-l.cwake:
		}
		l.cmu.Lock()
		out, l.cbuf = l.cbuf, out[:0]
		l.cmu.Unlock()
		if len(out) == 0 {
			continue
		}
		if _, err := l.st.Write(out); err != nil {
			return
		}
	}
}

func (l *link) writeDatagrams() {
	p := l.p
	spare := make([]byte, dgHeader+maxRTPSize)
	for {
		buf, kind, ok := l.ring.pop(spare)
		if !ok {
			select {
			case <-l.done:
				return
			case <-l.ring.wake:
				continue
			}
		}
		err := l.conn.SendDatagram(buf) // copies buf
		spare = buf
		if err != nil {
			if _, large := errors.AsType[*quic.DatagramTooLargeError](err); large {
				p.drops.Add(1)
				p.mDropLarge.Inc()
				continue
			}
			return // the connection is closed
		}
		n := uint64(len(buf) - dgHeader)
		p.dgSent.Add(1)
		p.bSent.Add(n)
		p.mSent.Inc()
		p.mBSent.Add(float64(n))
		q := buf[5] // the layer (putDatagram)
		p.bLayer[q][kind].Add(n)
		p.mBLayer[q][kind].Add(float64(n))
	}
}

func (l *link) readDatagrams() {
	ctx := l.conn.Context()
	for {
		b, err := l.conn.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		l.deliver(b)
	}
}

// deliver hands one received datagram to its subscription's Handler, or
// drops and counts it. It does not allocate.
func (l *link) deliver(b []byte) {
	p := l.p
	ch, layer, pkt, err := parseDatagram(b)
	if err != nil {
		l.r.m.Malformed.Inc()
		return
	}
	s := (*p.inbound.Load())[ch]
	if s == nil {
		// Unsubscribed while the packet was on its way.
		p.mDropChannel.Inc()
		return
	}
	n := uint64(len(pkt))
	p.dgRecv.Add(1)
	p.bRecv.Add(n)
	p.mRecv.Inc()
	p.mBRecv.Add(float64(n))
	s.h.RTP(int(layer), pkt)
}

// readHello reads the first control message of a stream, which must be a
// Hello, without reading past it.
func readHello(r io.Reader) (msg, error) {
	var hdr [3]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return msg{}, err
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if n > 2*maxName {
		return msg{}, ErrMalformed
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return msg{}, err
	}
	m, err := decodeMsg(body, nil)
	if err != nil || m.typ != msgHello {
		return msg{}, ErrMalformed
	}
	return m, nil
}

func (l *link) readControl() {
	br := bufio.NewReaderSize(l.st, 16<<10)
	var body []byte
	var hdr [3]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if n == 0 || n > maxControl {
			l.protocolError(fmt.Errorf("%w: control message of %d bytes", ErrMalformed, n))
			return
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		m, err := decodeMsg(body, l.seqs)
		if err != nil {
			l.protocolError(err)
			return
		}
		if m.typ == msgNACK {
			l.seqs = m.seqs[:0]
		}
		if !l.handle(&m) {
			return
		}
	}
}

// protocolError ends a link whose control stream cannot be read on: the
// framing is lost.
func (l *link) protocolError(err error) {
	l.r.m.Malformed.Inc()
	l.r.log.Warn("relay control stream malformed; closing the link", "peer", l.p.node, "err", err)
	l.close(codeProtocol, "malformed control message")
}

// handle acts on one control message; false ends the link.
func (l *link) handle(m *msg) bool {
	switch m.typ {
	case msgHello:
		if m.version != protocolVersion || m.node != l.p.node {
			l.protocolError(fmt.Errorf("%w: hello from %q version %d", ErrMalformed, m.node, m.version))
			return false
		}
	case msgSubscribe:
		l.serve(m)
	case msgUnsubscribe:
		if s := l.served[m.ch]; s != nil {
			delete(l.served, m.ch)
			s.out.closed.Store(true)
			s.feed.Close()
		}
	case msgLayers:
		if s := l.served[m.ch]; s != nil {
			s.out.layers.Store(uint32(m.layers))
			s.feed.SetLayers(m.layers)
		}
	case msgKeyframe:
		if s := l.served[m.ch]; s != nil {
			s.feed.RequestKeyframe(int(m.layer))
		}
	case msgNACK:
		if s := l.served[m.ch]; s != nil {
			s.feed.RequestRetransmission(int(m.layer), m.seqs)
		}
	case msgSenderReport:
		if s := (*l.p.inbound.Load())[m.ch]; s != nil {
			s.h.SenderReport(int(m.layer), m.ntp, m.rtp)
		}
	case msgLayerState:
		if s := (*l.p.inbound.Load())[m.ch]; s != nil {
			s.h.LayerState(m.state)
		}
	case msgRefuse:
		if s := (*l.p.inbound.Load())[m.ch]; s != nil {
			s.h.Refused(m.reason)
		}
	case msgApp:
		if f := l.r.cfg.OnMessage; f != nil {
			f(l.p.node, m.topic, m.payload)
		}
	}
	return true
}

// serve starts serving a subscription of the peer through the Origin.
func (l *link) serve(m *msg) {
	if old := l.served[m.ch]; old != nil {
		old.out.closed.Store(true)
		old.feed.Close()
		delete(l.served, m.ch)
	}
	if l.r.cfg.Origin == nil {
		l.send(&msg{typ: msgRefuse, ch: m.ch, reason: "this edge serves no tracks"})
		return
	}
	out := &Sender{l: l, ch: m.ch}
	out.layers.Store(uint32(m.layers))
	feed, err := l.r.cfg.Origin.Open(l.p.node, m.room, m.track, out)
	if err != nil {
		l.send(&msg{typ: msgRefuse, ch: m.ch, reason: err.Error()})
		return
	}
	l.served[m.ch] = &served{feed: feed, out: out}
}

// Sender is an Origin's way to one subscribing edge's channel. WriteRTP is
// the data path: it never blocks and does not allocate. Its methods are
// safe for concurrent use; after the Feed is closed they do nothing.
type Sender struct {
	l      *link
	ch     uint32
	layers atomic.Uint32
	closed atomic.Bool
}

// Layers is the subscriber's current demand (bit i: layer i).
func (s *Sender) Layers() uint8 { return uint8(s.layers.Load()) }

// WriteRTP queues an RTP packet of layer for the subscriber, if it wants
// that layer: a publisher's packet as it arrived (counted as media, or as
// padding when it carries no payload). It reports false when it did not: a
// layer not demanded, a closed feed, or a full link queue (counted as
// dropped).
func (s *Sender) WriteRTP(layer int, pkt []byte) bool {
	k := KindMedia
	if paddingOnly(pkt) {
		k = KindPadding
	}
	return s.write(layer, k, pkt)
}

// Repair is WriteRTP for a packet sent again in answer to the subscriber's
// NACK (Feed.RequestRetransmission), counted as such.
func (s *Sender) Repair(layer int, pkt []byte) bool { return s.write(layer, KindRepair, pkt) }

// Replay is WriteRTP for a cached packet sent again because its layer
// starts crossing (its newest keyframe and what followed), counted as
// such.
func (s *Sender) Replay(layer int, pkt []byte) bool { return s.write(layer, KindReplay, pkt) }

func (s *Sender) write(layer int, k Kind, pkt []byte) bool {
	if layer < 0 || layer >= MaxLayers || s.layers.Load()&(1<<layer) == 0 || s.closed.Load() {
		return false
	}
	if !s.l.ring.push(s.ch, uint8(layer), k, pkt) {
		p := s.l.p
		p.drops.Add(1)
		p.mDropQueue.Inc()
		return false
	}
	return true
}

// SenderReport sends the publisher's sender report of layer (NTP and RTP
// time of one instant) to the subscriber.
func (s *Sender) SenderReport(layer int, ntp uint64, rtpTS uint32) {
	if layer < 0 || layer >= MaxLayers || s.closed.Load() {
		return
	}
	s.l.send(&msg{typ: msgSenderReport, ch: s.ch, layer: uint8(layer), ntp: ntp, rtp: rtpTS})
}

// LayerState sends the track's layer states to the subscriber.
func (s *Sender) LayerState(st LayerState) {
	if s.closed.Load() {
		return
	}
	s.l.send(&msg{typ: msgLayerState, ch: s.ch, state: st})
}

// Refuse tells the subscriber that the track is no longer served (its
// publisher left); the Feed stays until the subscriber unsubscribes.
func (s *Sender) Refuse(reason string) {
	if s.closed.Load() {
		return
	}
	s.l.send(&msg{typ: msgRefuse, ch: s.ch, reason: reason})
}
