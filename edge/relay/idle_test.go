package relay

import (
	"testing"
	"time"
)

// TestIdleLinkCloses: a link stays up while a subscription uses it, for
// several idle periods; once nothing is wanted over it by either edge it
// closes on both, and a Hold (or a subscription) dials it again. Served
// subscriptions are counted per peer.
func TestIdleLinkCloses(t *testing.T) {
	const idle = 300 * time.Millisecond
	keys := [][]byte{newKey(t)}
	dir := newDirectory()
	short := endpointOpts{keys: keys, cfg: func(c *Config) { c.LinkIdle = idle }}
	a := startEndpoint(t, "edge-a", dir, short)
	b := startEndpoint(t, "edge-b", dir, short)

	rec := newRecorder()
	sub, err := b.Subscribe("edge-a", "room1", "TR_audio", 1, rec)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "A serves B", func() bool { return a.Stats("edge-b").Served == 1 && b.Connected("edge-a") })
	time.Sleep(4 * idle) // several idle periods with a subscription
	if !a.Connected("edge-b") || !b.Connected("edge-a") || b.Stats("edge-a").Connects != 1 {
		t.Fatalf("a link in use went down (connected A→B %v, B→A %v, connects %d)",
			a.Connected("edge-b"), b.Connected("edge-a"), b.Stats("edge-a").Connects)
	}
	a.origin.feed("TR_audio").out.WriteRTP(0, rtpPacket(1, 50, 1))
	eventually(t, "a packet over the link", func() bool { return rec.count(0) == 1 })

	sub.Close()
	eventually(t, "A serves nothing", func() bool { return a.Stats("edge-b").Served == 0 })
	eventually(t, "the idle link closes on both edges", func() bool { return !a.Connected("edge-b") && !b.Connected("edge-a") })
	if n := value(a.m.IdleClosed) + value(b.m.IdleClosed); n < 1 {
		t.Fatalf("idle closes counted: %v", n)
	}

	release, err := b.Hold("edge-a")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a Hold dials again", func() bool { return b.Connected("edge-a") && a.Connected("edge-b") })
	if c := b.Stats("edge-a").Connects; c != 2 {
		t.Fatalf("B connected %d times, want 2", c)
	}
	if err := b.Send("edge-a", "room", []byte("hello")); err != nil {
		t.Fatalf("send over the reopened link: %v", err)
	}
	eventually(t, "the message arrives", func() bool { return len(a.msgs.list()) == 1 })
	time.Sleep(4 * idle) // a held link stays, even though A wants nothing of B
	if !b.Connected("edge-a") || b.Stats("edge-a").Connects != 2 {
		t.Fatalf("a held link went down (connected %v, connects %d)", b.Connected("edge-a"), b.Stats("edge-a").Connects)
	}
	release()
	eventually(t, "released, the link closes", func() bool { return !a.Connected("edge-b") && !b.Connected("edge-a") })
}
