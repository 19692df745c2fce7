package relay

import (
	"context"
	"crypto/rand"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// directory is the tests' Resolve: node → address, changeable.
type directory struct {
	mu    sync.Mutex
	addrs map[string]string
}

func newDirectory() *directory { return &directory{addrs: map[string]string{}} }

func (d *directory) set(node, addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.addrs[node] = addr
}

func (d *directory) resolve(node string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.addrs[node]
	return a, ok
}

// endpoint is a running relay with its registry.
type endpoint struct {
	*Relay
	reg    *prometheus.Registry
	m      *Metrics
	origin *testOrigin
	msgs   *messages
	cancel context.CancelFunc
	done   chan error
}

type endpointOpts struct {
	keys [][]byte
	cfg  func(*Config)
}

// startEndpoint runs a relay for node on 127.0.0.1:0, registered in dir,
// and stops it when the test ends.
func startEndpoint(t *testing.T, node string, dir *directory, o endpointOpts) *endpoint {
	t.Helper()
	id, err := NewIdentity(node, o.keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := listenUDP()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := &endpoint{reg: reg, m: m, origin: newTestOrigin(), msgs: &messages{}, done: make(chan error, 1)}
	cfg := Config{
		Identity: id, PacketConn: pc, Resolve: dir.resolve, Origin: e.origin,
		OnMessage: e.msgs.add, Metrics: m, IdleTimeout: 2 * time.Second,
		RedialMin: 20 * time.Millisecond, RedialMax: 200 * time.Millisecond,
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Relay = r
	dir.set(node, pc.LocalAddr().String())
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- r.Run(ctx) }()
	t.Cleanup(e.stop)
	return e
}

// stop stops the relay and waits for Run (safe twice).
func (e *endpoint) stop() {
	e.cancel()
	_ = e.Close()
	select {
	case <-e.done:
		e.done <- nil
	case <-time.After(10 * time.Second):
		panic("relay did not stop")
	}
}

// testOrigin serves any track: it records the feeds it opened.
type testOrigin struct {
	mu     sync.Mutex
	feeds  []*testFeed
	refuse map[string]bool // track → refuse
}

func newTestOrigin() *testOrigin { return &testOrigin{refuse: map[string]bool{}} }

func (o *testOrigin) Open(peer, room, track string, out *Sender) (Feed, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refuse[track] {
		return nil, errNoTrack
	}
	f := &testFeed{peer: peer, room: room, track: track, out: out}
	o.feeds = append(o.feeds, f)
	return f, nil
}

type testError string

func (e testError) Error() string { return string(e) }

const errNoTrack = testError("no such track")

// feed returns the newest open feed of track (nil: none).
func (o *testOrigin) feed(track string) *testFeed {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.feeds) - 1; i >= 0; i-- {
		if f := o.feeds[i]; f.track == track && !f.isClosed() {
			return f
		}
	}
	return nil
}

func (o *testOrigin) opened() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.feeds)
}

type testFeed struct {
	peer, room, track string
	out               *Sender

	mu        sync.Mutex
	layers    []uint8
	keyframes []int
	nacks     map[int][]uint16
	closed    bool
}

func (f *testFeed) SetLayers(mask uint8) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.layers = append(f.layers, mask)
}

func (f *testFeed) RequestKeyframe(layer int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keyframes = append(f.keyframes, layer)
}

func (f *testFeed) RequestRetransmission(layer int, seqs []uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nacks == nil {
		f.nacks = map[int][]uint16{}
	}
	f.nacks[layer] = append(f.nacks[layer], seqs...)
}

func (f *testFeed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

func (f *testFeed) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

func (f *testFeed) snapshot() (layers []uint8, keyframes []int, nacks map[int][]uint16) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := map[int][]uint16{}
	for k, v := range f.nacks {
		n[k] = slices.Clone(v)
	}
	return slices.Clone(f.layers), slices.Clone(f.keyframes), n
}

// recorder is a Handler that keeps what it got.
type recorder struct {
	mu      sync.Mutex
	pkts    map[int][][]byte
	srs     []srRec
	states  []LayerState
	refused []string
}

type srRec struct {
	layer int
	ntp   uint64
	rtp   uint32
}

func newRecorder() *recorder { return &recorder{pkts: map[int][][]byte{}} }

func (r *recorder) RTP(layer int, pkt []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pkts[layer] = append(r.pkts[layer], slices.Clone(pkt))
}

func (r *recorder) SenderReport(layer int, ntp uint64, rtpTS uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srs = append(r.srs, srRec{layer, ntp, rtpTS})
}

func (r *recorder) LayerState(s LayerState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states = append(r.states, s)
}

func (r *recorder) Refused(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused = append(r.refused, reason)
}

func (r *recorder) count(layer int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts[layer])
}

func (r *recorder) packets(layer int) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pkts[layer])
}

// messages records application messages.
type messages struct {
	mu  sync.Mutex
	got []appMsg
}

type appMsg struct{ peer, topic, payload string }

func (m *messages) add(peer, topic string, payload []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, appMsg{peer, topic, string(payload)})
}

func (m *messages) list() []appMsg {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got)
}

// rtpPacket is a minimal RTP packet: version 2, payload type 96, seq, and
// a payload of n bytes of b.
func rtpPacket(seq uint16, n int, b byte) []byte {
	p := make([]byte, 12+n)
	p[0] = 0x80
	p[1] = 96
	p[2], p[3] = byte(seq>>8), byte(seq)
	p[11] = 7 // SSRC 7
	for i := 12; i < len(p); i++ {
		p[i] = b
	}
	return p
}

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}

func listenUDP() (net.PacketConn, error) { return net.ListenPacket("udp", "127.0.0.1:0") }
