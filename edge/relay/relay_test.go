package relay

import (
	"bytes"
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

// TestMediaAndControl: edge B subscribes to a track on edge A over one
// link; A's packets of the layers B asks for arrive byte for byte, the
// others do not cross; B's demand changes, keyframe requests and NACKs
// reach A's feed; A's sender reports and layer states reach B; application
// messages go both ways; unsubscribing closes A's feed.
func TestMediaAndControl(t *testing.T) {
	keys := [][]byte{newKey(t)}
	dir := newDirectory()
	a := startEndpoint(t, "edge-a", dir, endpointOpts{keys: keys})
	b := startEndpoint(t, "edge-b", dir, endpointOpts{keys: keys})

	rec := newRecorder()
	sub, err := b.Subscribe("edge-a", "room1", "TR_video", 0b001, rec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "A serves B's subscription", func() bool { return a.origin.feed("TR_video") != nil })
	f := a.origin.feed("TR_video")
	if f.peer != "edge-b" || f.room != "room1" || f.out.Layers() != 0b001 {
		t.Fatalf("feed = peer %q room %q layers %b", f.peer, f.room, f.out.Layers())
	}

	// Layer 0 is wanted, layer 1 is not: it must not even be queued.
	want := [][]byte{rtpPacket(1, 900, 0xa1), rtpPacket(2, 1100, 0xa2), rtpPacket(3, 20, 0xa3)}
	for _, p := range want {
		if !f.out.WriteRTP(0, p) {
			t.Fatal("WriteRTP(layer 0) refused a demanded layer")
		}
	}
	if f.out.WriteRTP(1, rtpPacket(9, 100, 1)) {
		t.Fatal("WriteRTP(layer 1) queued a layer nobody demanded")
	}
	eventually(t, "B receives layer 0", func() bool { return rec.count(0) == len(want) })
	for i, p := range rec.packets(0) {
		if !bytes.Equal(p, want[i]) {
			t.Fatalf("packet %d differs after the hop", i)
		}
	}

	// Demand grows: layer 1 now crosses.
	sub.SetLayers(0b011)
	eventually(t, "A sees the new demand", func() bool { return f.out.Layers() == 0b011 })
	if l, _, _ := f.snapshot(); !slices.Equal(l, []uint8{0b011}) {
		t.Fatalf("feed demand updates = %v", l)
	}
	if !f.out.WriteRTP(1, rtpPacket(10, 500, 0xb1)) {
		t.Fatal("WriteRTP(layer 1) refused after the demand grew")
	}
	eventually(t, "B receives layer 1", func() bool { return rec.count(1) == 1 })

	// Upstream: keyframe request and NACK.
	sub.RequestKeyframe(1)
	sub.RequestRetransmission(0, []uint16{2, 3, 65535})
	eventually(t, "A's feed gets PLI and NACK", func() bool {
		_, k, n := f.snapshot()
		return len(k) == 1 && len(n[0]) == 3
	})
	if _, k, n := f.snapshot(); k[0] != 1 || !slices.Equal(n[0], []uint16{2, 3, 65535}) {
		t.Fatalf("keyframes %v, nacks %v", k, n)
	}

	// Downstream control.
	f.out.SenderReport(2, 0x1122334455667788, 0xdeadbeef)
	st := LayerState{Layers: 3, Active: [MaxLayers]bool{true, true, false}, Bitrate: [MaxLayers]uint64{150_000, 500_000, 0}}
	f.out.LayerState(st)
	eventually(t, "B gets the sender report and layer state", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.srs) == 1 && len(rec.states) == 1
	})
	if rec.srs[0] != (srRec{2, 0x1122334455667788, 0xdeadbeef}) || rec.states[0] != st {
		t.Fatalf("sender report %+v, layer state %+v", rec.srs[0], rec.states[0])
	}

	// Application messages both ways, on the same link.
	if err := b.Send("edge-a", "room", []byte("hello from b")); err != nil {
		t.Fatal(err)
	}
	if err := a.Send("edge-b", "room", []byte("hello from a")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "messages both ways", func() bool { return len(a.msgs.list()) == 1 && len(b.msgs.list()) == 1 })
	if got := a.msgs.list()[0]; got != (appMsg{"edge-b", "room", "hello from b"}) {
		t.Fatalf("A got %+v", got)
	}
	if got := b.msgs.list()[0]; got != (appMsg{"edge-a", "room", "hello from a"}) {
		t.Fatalf("B got %+v", got)
	}
	if sa, sb := a.Stats("edge-b"), b.Stats("edge-a"); sa.Connects != 1 || sb.Connects != 1 {
		t.Fatalf("connections: A %d, B %d; want one link", sa.Connects, sb.Connects)
	}
	sa, sb := a.Stats("edge-b"), b.Stats("edge-a")
	if sa.DatagramsSent != 4 || sb.DatagramsReceived != 4 || sa.BytesSent != sb.BytesReceived {
		t.Fatalf("A sent %d datagrams (%d bytes), B received %d (%d bytes)", sa.DatagramsSent, sa.BytesSent, sb.DatagramsReceived, sb.BytesReceived)
	}

	// Unsubscribe: A's feed closes, its sender stops.
	sub.Close()
	eventually(t, "A's feed closes", f.isClosed)
	if f.out.WriteRTP(0, rtpPacket(4, 10, 0)) {
		t.Fatal("WriteRTP after unsubscribe queued a packet")
	}
}

// TestRefused: a track the origin does not serve is refused with its
// reason; the subscription stays until closed.
func TestRefused(t *testing.T) {
	keys := [][]byte{newKey(t)}
	dir := newDirectory()
	a := startEndpoint(t, "edge-a", dir, endpointOpts{keys: keys})
	b := startEndpoint(t, "edge-b", dir, endpointOpts{keys: keys})
	a.origin.refuse["TR_gone"] = true
	rec := newRecorder()
	sub, err := b.Subscribe("edge-a", "room1", "TR_gone", 1, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	eventually(t, "refusal", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.refused) == 1
	})
	if rec.refused[0] != string(errNoTrack) {
		t.Fatalf("refused with %q", rec.refused[0])
	}
}

// TestForeignCertificateRefused: an edge whose certificates come from
// another cluster's keys can neither subscribe to a member nor be
// subscribed to; nothing is served, no link comes up.
func TestForeignCertificateRefused(t *testing.T) {
	dir := newDirectory()
	a := startEndpoint(t, "edge-a", dir, endpointOpts{keys: [][]byte{newKey(t)}})
	x := startEndpoint(t, "edge-x", dir, endpointOpts{keys: [][]byte{newKey(t)}})
	rec := newRecorder()
	sub, err := x.Subscribe("edge-a", "room1", "TR_video", 1, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	sub2, err := a.Subscribe("edge-x", "room1", "TR_video", 1, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	eventually(t, "several refused handshakes each way", func() bool {
		return value(x.m.Handshakes.WithLabelValues("refused")) >= 3 &&
			value(a.m.Handshakes.WithLabelValues("refused")) >= 3
	})
	if a.Connected("edge-x") || x.Connected("edge-a") {
		t.Fatal("a link came up with a foreign edge")
	}
	if a.origin.opened() != 0 || x.origin.opened() != 0 {
		t.Fatal("a foreign edge's subscription was served")
	}
	if n := value(a.m.Handshakes.WithLabelValues("ok")) + value(x.m.Handshakes.WithLabelValues("ok")); n != 0 {
		t.Fatalf("%v handshakes succeeded", n)
	}
}

// TestMemberWrongNodeRefused: a member's certificate that names another
// node than the one dialed is refused (an edge reached at a stale address).
func TestMemberWrongNodeRefused(t *testing.T) {
	keys := [][]byte{newKey(t)}
	dir := newDirectory()
	a := startEndpoint(t, "edge-a", dir, endpointOpts{keys: keys})
	b := startEndpoint(t, "edge-b", dir, endpointOpts{keys: keys})
	c := startEndpoint(t, "edge-c", dir, endpointOpts{keys: keys})
	addrC, _ := dir.resolve("edge-c")
	dir.set("edge-a", addrC) // B believes A lives where C does
	sub, err := b.Subscribe("edge-a", "room1", "TR_video", 1, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	eventually(t, "B refuses C's certificate", func() bool {
		return value(b.m.Handshakes.WithLabelValues("refused")) >= 2
	})
	if b.Connected("edge-a") || c.origin.opened() != 0 || a.origin.opened() != 0 {
		t.Fatal("B reached the wrong node")
	}
}

// TestMalformedDatagramDropped: a member's connection that sends datagrams
// which do not parse has them dropped and counted, and the link stays up;
// a datagram for a channel nobody subscribed is dropped too.
func TestMalformedDatagramDropped(t *testing.T) {
	keys := [][]byte{newKey(t)}
	dir := newDirectory()
	a := startEndpoint(t, "edge-a", dir, endpointOpts{keys: keys})

	// A hand-made member: a real identity, a raw QUIC connection.
	id, err := NewIdentity("edge-raw", keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	defer func() { _ = tr.Close(); _ = pc.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, _ := dir.resolve("edge-a")
	ua, _ := net.ResolveUDPAddr("udp", addr)
	conn, err := tr.Dial(ctx, ua, id.ClientTLS("edge-a"), &quic.Config{EnableDatagrams: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.CloseWithError(0, "") }()
	st, err := conn.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(appendMsg(nil, &msg{typ: msgHello, version: protocolVersion, node: "edge-raw"})); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A adopts the link", func() bool { return a.Connected("edge-raw") })

	bad := [][]byte{
		{dgRTP, 0, 0, 0, 1},      // short header
		{9, 0, 0, 0, 1, 0, 0x80}, // unknown kind
		append([]byte{dgRTP, 0, 0, 0, 1, 7}, rtpPacket(1, 10, 0)...),     // layer out of range
		append([]byte{dgRTP, 0, 0, 0, 1, 0}, 0x40, 96, 0, 1, 0, 0, 0, 0), // not RTP version 2
	}
	for _, b := range bad {
		if err := conn.SendDatagram(b); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "malformed datagrams counted", func() bool { return value(a.m.Malformed) == float64(len(bad)) })
	if err := conn.SendDatagram(append([]byte{dgRTP, 0, 0, 0, 42, 0}, rtpPacket(1, 10, 0)...)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unknown channel counted", func() bool {
		return value(a.m.Dropped.WithLabelValues("edge-raw", "channel")) == 1
	})
	if !a.Connected("edge-raw") {
		t.Fatal("a malformed datagram took the link down")
	}
}

// TestMalformedControlClosesLink: a control message that does not parse
// ends the link (the stream's framing cannot be trusted after it) and is
// counted.
func TestMalformedControlClosesLink(t *testing.T) {
	keys := [][]byte{newKey(t)}
	dir := newDirectory()
	a := startEndpoint(t, "edge-a", dir, endpointOpts{keys: keys})
	id, err := NewIdentity("edge-raw", keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &quic.Transport{Conn: pc}
	defer func() { _ = tr.Close(); _ = pc.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addr, _ := dir.resolve("edge-a")
	ua, _ := net.ResolveUDPAddr("udp", addr)
	conn, err := tr.Dial(ctx, ua, id.ClientTLS("edge-a"), &quic.Config{EnableDatagrams: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := conn.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	b := appendMsg(nil, &msg{typ: msgHello, version: protocolVersion, node: "edge-raw"})
	b = append(b, 0, 0, 2, 99, 1) // a message of unknown type 99
	if _, err := st.Write(b); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Context().Done():
	case <-ctx.Done():
		t.Fatal("A kept a link whose control stream is malformed")
	}
	if value(a.m.Malformed) != 1 {
		t.Fatalf("malformed = %v", value(a.m.Malformed))
	}
}

// TestReconnectAfterRestart: B's subscription survives A's restart (a new
// process, a new port, the same node id): B dials the new A, subscribes
// again, and media flows again.
func TestReconnectAfterRestart(t *testing.T) {
	keys := [][]byte{newKey(t)}
	dir := newDirectory()
	a := startEndpoint(t, "edge-a", dir, endpointOpts{keys: keys})
	b := startEndpoint(t, "edge-b", dir, endpointOpts{keys: keys})
	rec := newRecorder()
	sub, err := b.Subscribe("edge-a", "room1", "TR_audio", 1, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	eventually(t, "A serves", func() bool { return a.origin.feed("TR_audio") != nil })
	a.origin.feed("TR_audio").out.WriteRTP(0, rtpPacket(1, 50, 1))
	eventually(t, "first packet", func() bool { return rec.count(0) == 1 })

	a.stop()
	eventually(t, "B sees the link go", func() bool { return !b.Connected("edge-a") })
	a2 := startEndpoint(t, "edge-a", dir, endpointOpts{keys: keys})
	eventually(t, "the new A serves B again", func() bool { return a2.origin.feed("TR_audio") != nil })
	a2.origin.feed("TR_audio").out.WriteRTP(0, rtpPacket(2, 50, 2))
	eventually(t, "media after the restart", func() bool { return rec.count(0) == 2 })
	if s := b.Stats("edge-a"); s.Connects != 2 {
		t.Fatalf("B connected %d times, want 2", s.Connects)
	}
}

// TestBothDialOneLink: two edges that subscribe to each other at the same
// time end up with one link, the one the smaller node id dialed, and media
// flows both ways on it.
func TestBothDialOneLink(t *testing.T) {
	keys := [][]byte{newKey(t)}
	dir := newDirectory()
	a := startEndpoint(t, "edge-a", dir, endpointOpts{keys: keys})
	b := startEndpoint(t, "edge-b", dir, endpointOpts{keys: keys})
	ra, rb := newRecorder(), newRecorder()
	sa, err := a.Subscribe("edge-b", "room1", "TR_b", 1, ra)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	sb, err := b.Subscribe("edge-a", "room1", "TR_a", 1, rb)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	eventually(t, "each serves the other", func() bool { return a.origin.feed("TR_a") != nil && b.origin.feed("TR_b") != nil })
	eventually(t, "one link, the same on both sides", func() bool {
		la, lb := a.peerLink("edge-b"), b.peerLink("edge-a")
		return la != nil && lb != nil && la.dialer == "edge-a" && lb.dialer == "edge-a"
	})
	eventually(t, "media both ways", func() bool {
		if f := a.origin.feed("TR_a"); f != nil {
			f.out.WriteRTP(0, rtpPacket(1, 10, 1))
		}
		if f := b.origin.feed("TR_b"); f != nil {
			f.out.WriteRTP(0, rtpPacket(1, 10, 1))
		}
		return ra.count(0) > 0 && rb.count(0) > 0
	})
}

// peerLink is the link in use to node (tests).
func (r *Relay) peerLink(node string) *link {
	r.mu.Lock()
	p := r.peers[node]
	r.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.current()
}
