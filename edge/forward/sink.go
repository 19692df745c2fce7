package forward

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/spacecast/spacecast/edge/bwe"
	"github.com/spacecast/spacecast/edge/mmsg"
)

// Direct is the edge's own SRTP write path of a subscriber connection (an
// edge/srtpout Sender): once Ready, WriteRTP encrypts pkt, whose header it
// parses into hdr, into out (nil: straight to the socket).
type Direct interface {
	Ready() bool
	WriteRTP(pkt []byte, hdr *rtp.Header, out *mmsg.Batch) error
}

// SinkConfig describes one subscriber's output. Zero values mean defaults.
type SinkConfig struct {
	Queue QueueConfig
	// Direct, when set, sends the subscriber's RTP once it is Ready, in
	// place of pion's write path.
	Direct Direct
	// Metrics counts what is sent (nil: not counted).
	Metrics *Metrics
	// Now is the media clock (required; see TrackConfig.Now).
	Now func() int64
	// BWE, when set, is the connection's send-side bandwidth estimator:
	// every packet that carries the transport-wide sequence number is
	// reported to it as it leaves, and the probes it asks for are sent as
	// padding on an RTX stream of the subscriber (see probe). Its
	// feedback side is the caller's.
	BWE *bwe.Estimator
}

// Sink is one subscriber's way out: one bounded Queue that every Down of
// the subscriber writes into, and the drain that sends from it through the
// edge's own SRTP path or pion's. Over UDP (inline) the goroutine that
// queued packets sends them at once (whoever holds the drain drains the
// queue), which spares a goroutine wake-up per packet; over TCP, whose
// writes can block, Run's goroutine does, so a slow subscriber never holds
// a publisher's reader. Its methods are safe for concurrent use.
type Sink struct {
	q       *Queue
	direct  Direct
	metrics *Metrics
	now     func() int64
	bwe     *bwe.Estimator

	mu      sync.Mutex // serialises changes of tags
	nextTag uint32
	tags    atomic.Pointer[map[uint32]*Down]

	inline      atomic.Bool
	draining    atomic.Bool
	modeChanged chan struct{}

	// The drain holder's: a header to parse into, the connection's next
	// transport-wide sequence number, a buffer for probe padding.
	hdr    rtp.Header
	tccSeq uint16
	pad    []byte
	// sr is what the drain holder sent in a row for one Down, added to
	// its sender-report counters (three atomics) once a run, not a packet.
	sr srRun

	firstSent atomic.Int64 // media clock of the first packet sent + 1; 0: none yet

	resends resendBudget // retransmissions' share of the estimate (resend.go)
}

// NewSink makes a Sink; it starts nothing.
func NewSink(cfg SinkConfig) (*Sink, error) {
	if cfg.Now == nil {
		return nil, fmt.Errorf("%w: Now is required", ErrConfig)
	}
	q, err := NewQueue(cfg.Queue)
	if err != nil {
		return nil, err
	}
	s := &Sink{q: q, direct: cfg.Direct, metrics: cfg.Metrics, now: cfg.Now, bwe: cfg.BWE, modeChanged: make(chan struct{}, 1)}
	if s.bwe != nil {
		s.pad = make([]byte, padPacketSize)
	}
	if s.metrics == nil {
		s.metrics = discardMetrics()
	}
	s.tags.Store(&map[uint32]*Down{})
	return s, nil
}

// Subscribe makes the subscriber's Down of t, paused until SetTarget or
// Start (and sending nothing before Bind).
func (s *Sink) Subscribe(t *Track) (*Down, error) {
	s.mu.Lock()
	s.nextTag++
	tag := s.nextTag
	s.mu.Unlock()
	fwd, err := New(Config{Source: t.src, Queue: s.q, Tag: tag, Layer: -1})
	if err != nil {
		return nil, err
	}
	d := &Down{track: t, sink: s, tag: tag, fwd: fwd}
	s.mu.Lock()
	old := *s.tags.Load()
	n := make(map[uint32]*Down, len(old)+1)
	for k, v := range old {
		n[k] = v
	}
	n[tag] = d
	s.tags.Store(&n)
	s.mu.Unlock()
	t.addDown(d)
	return d, nil
}

func (s *Sink) remove(d *Down) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.tags.Load()
	n := make(map[uint32]*Down, len(old))
	for k, v := range old {
		if v != d {
			n[k] = v
		}
	}
	s.tags.Store(&n)
}

// SetInline switches between sending from the producers (UDP: true) and
// from Run's goroutine (TCP, or not connected yet).
func (s *Sink) SetInline(on bool) {
	if s.inline.Swap(on) != on {
		select {
		case s.modeChanged <- struct{}{}:
		default:
		}
	}
}

// Run drains the queue while the sink is not inline, until ctx ends. The
// subscriber's owner runs it in a goroutine it waits for.
func (s *Sink) Run(ctx context.Context) {
	for {
		if s.inline.Load() {
			select {
			case <-ctx.Done():
				return
			case <-s.modeChanged:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.modeChanged:
		case <-s.q.Ready():
			s.drain(nil)
		}
	}
}

// Flush sends what is queued if the sink is inline; called by whoever just
// queued packets (a publisher's reader, an RTCP reader, Start). out, when
// not nil, is the caller's batch: packets the edge encrypts itself go into
// it, and the caller sends it.
func (s *Sink) Flush(out *mmsg.Batch) {
	if s.inline.Load() {
		s.drain(out)
	}
}

// drain sends everything queued, unless another goroutine is draining
// already (it will see the new packets: the check after releasing draining
// closes the gap). out is as for Flush.
func (s *Sink) drain(out *mmsg.Batch) {
	var sent, direct int
	for s.draining.CompareAndSwap(false, true) {
		tags := *s.tags.Load()
		now := s.now() // one clock read a pass, not a packet
		var last *Down // a frame's packets share a tag: look it up once
		lastTag := uint32(0)
		// Sent from the queue's own slots: the holder of draining is the
		// queue's single consumer, and producers never overwrite a slot
		// before Next moves past it.
		for run := s.q.Peek(); run.Len() > 0; run = s.q.Next(run.Len()) {
			for i := range run.Len() {
				it := run.At(i)
				if last == nil || it.Tag != lastTag {
					last, lastTag = tags[it.Tag], it.Tag
				}
				if last != nil {
					if ok, d := s.send(last, it, now, out, 0); ok {
						sent++
						if d {
							direct++
						}
					}
				}
			}
		}
		if s.bwe != nil {
			n, d := s.probe(tags, now, out)
			sent += n
			direct += d
		}
		s.flushSent() // before another goroutine can hold the drain
		s.draining.Store(false)
		if s.q.Len() == 0 {
			break
		}
	}
	if sent > 0 {
		// Counted per drain, not per packet: the counters are shared by
		// every fan-out.
		s.metrics.Forwarded.Add(float64(sent))
		s.metrics.Direct.Add(float64(direct))
	}
}

// send writes one packet of d, rewritten for the subscriber already (see
// rewrite.apply), through the edge's own SRTP path when it is ready, else
// through pion's writer; probe is the bandwidth probe cluster it belongs
// to (0: none). It reports whether the packet was sent and on which path;
// the caller counts them (a drain's worth at a time).
func (s *Sink) send(d *Down, it Item, now int64, out *mmsg.Batch, probe int) (sent, direct bool) {
	o := d.out.Load()
	pkt := it.Pkt
	if o == nil || len(pkt) < rtpHeaderSize {
		return false, false
	}
	numbered := false
	if ext := (extIDs{abs: o.AbsSendTimeID, tcc: o.TransportCCID}); ext.any() {
		numbered = ext.stamp(pkt, now, s.tccSeq) && ext.tcc != 0
	}
	var octets int // payload octets, for the sender reports
	if s.direct != nil && s.direct.Ready() {
		if err := s.direct.WriteRTP(pkt, &s.hdr, out); err != nil {
			s.metrics.Dropped.Inc()
			return false, false
		}
		octets = len(pkt) - s.hdr.MarshalSize()
		direct = true
	} else {
		n, err := s.hdr.Unmarshal(pkt)
		if err != nil {
			return false, false
		}
		payload := pkt[n:]
		// pion's writer appends Header.PaddingSize bytes of padding
		// itself (and indexes past its buffer with the P bit and no
		// size): hand it the payload without them.
		s.hdr.PaddingSize = 0
		if s.hdr.Padding && len(payload) > 0 {
			s.hdr.PaddingSize = payload[len(payload)-1]
			payload = payload[:len(payload)-int(min(int(s.hdr.PaddingSize), len(payload)))]
		}
		if _, err := o.Writer.WriteRTP(&s.hdr, payload); err != nil {
			s.metrics.Dropped.Inc()
			return false, false
		}
		octets = len(pkt) - n
	}
	if numbered {
		if s.bwe != nil {
			s.bwe.Sent(s.tccSeq, len(pkt), now, probe)
		}
		s.tccSeq++
	}
	if it.Resend {
		s.metrics.Retransmitted.Inc()
	}
	if !it.RTX { // the RTX stream is not in the media stream's reports
		s.noteSent(d, s.hdr.Timestamp, octets, now)
	}
	if s.firstSent.Load() == 0 {
		s.firstSent.Store(now + 1)
	}
	return true, direct
}

// srRun counts the media packets of one Down sent back to back (a
// subscriber's share of a frame) for its sender reports.
type srRun struct {
	d             *Down
	n, octets, ts uint32
	now           int64
}

// noteSent counts a media packet of d, octets of payload with RTP
// timestamp ts, into the drain holder's run (the drain holder only).
func (s *Sink) noteSent(d *Down, ts uint32, octets int, now int64) {
	r := &s.sr
	if r.d != d {
		s.flushSent()
		r.d = d
	}
	r.n++
	r.octets += uint32(octets)
	r.ts, r.now = ts, now
}

// flushSent adds the run to its Down's counters (the drain holder only,
// before it lets go of the drain).
func (s *Sink) flushSent() {
	if r := &s.sr; r.d != nil {
		r.d.sent(r.n, r.octets, r.ts, r.now)
		*r = srRun{}
	}
}

// Probe padding: RFC 3550 §5.1 allows at most 255 bytes of padding in one
// packet; with the edge's header extensions a probe packet is under 300
// bytes.
const (
	maxPadding    = 255
	padPacketSize = rtpHeaderSize + 16 + maxPadding
)

// probe sends what the estimator's probe controller asks for now, as
// padding-only packets on the RTX stream of one of the subscriber's video
// downs (a subscriber without RTX is not probed: padding on a media stream
// would shift its sequence numbers), and reports how many went and how many
// of those on the direct path. Called by the drain holder after each pass.
func (s *Sink) probe(tags map[uint32]*Down, now int64, out *mmsg.Batch) (sent, direct int) {
	p, ok := s.bwe.NextProbe(now)
	if !ok {
		return 0, 0
	}
	var d *Down
	for _, c := range tags {
		if o := c.out.Load(); o != nil && o.RTXSSRC != 0 && o.TransportCCID != 0 {
			d = c
			break
		}
	}
	if d == nil {
		return 0, 0
	}
	n := max(p.Packets, (p.Bytes+maxPadding-1)/maxPadding)
	size := min(max(p.Bytes/n, 1), maxPadding)
	for range n {
		l := d.fwd.Padding(s.pad, size)
		if l == 0 {
			break
		}
		ok, dir := s.send(d, Item{Pkt: s.pad[:l], Tag: d.tag, RTX: true}, now, out, p.Cluster)
		if !ok {
			break
		}
		sent++
		if dir {
			direct++
		}
	}
	s.metrics.Probes.Add(float64(sent))
	return sent, direct
}

// FirstSent is when the sink sent its first packet (media clock), and
// whether it has.
func (s *Sink) FirstSent() (int64, bool) {
	t := s.firstSent.Load()
	return t - 1, t != 0
}

// rtpHeaderSize is the fixed part of an RTP header (RFC 3550 §5.1).
const rtpHeaderSize = 12

// SenderReports appends a sender report for every Down that sent media
// lately (Down.SenderReport) to dst and returns it.
func (s *Sink) SenderReports(now int64, wall time.Time, dst []rtcp.Packet) []rtcp.Packet {
	for _, d := range *s.tags.Load() {
		if sr := d.SenderReport(now, wall); sr != nil {
			dst = append(dst, sr)
		}
	}
	return dst
}

// Downs is the number of Downs.
func (s *Sink) Downs() int { return len(*s.tags.Load()) }
