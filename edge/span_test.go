package edge

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/testenv"
)

// fleetFixture is several edges of one cluster on one test network: the
// edges' signalling and media on the bridge, the SDK participants in a
// namespace behind it, the relay between edges on loopback. The room
// directory is the edges' own rooms (what gossip would say), the relay
// addresses a map (what gossip node metadata would say).
type fleetFixture struct {
	edges []*fixture
	nodes []string
}

func newFleetFixture(t *testing.T, nodes ...string) *fleetFixture {
	t.Helper()
	return newRegionFleet(t, nil, nodes...)
}

// newRegionFleet is newFleetFixture with each edge in the region regions
// names (what gossip node metadata would say; nil: one region, and the
// edges know nothing of regions).
func newRegionFleet(t *testing.T, regions map[string]string, nodes ...string) *fleetFixture {
	t.Helper()
	testenv.Need(t, "network namespaces", netns.Available())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cl.GossipKeyring()
	if err != nil {
		t.Fatal(err)
	}
	nw, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nw.Close() })
	host, err := nw.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ff := &fleetFixture{nodes: nodes}
	var relayAddrs sync.Map
	ip := nw.Gateway().String()
	for _, node := range nodes {
		sig, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		udp, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		relayAddrs.Store(node, rc.LocalAddr().String())
		cfg := DefaultConfig()
		cfg.NodeID = node
		cfg.RTC.Interfaces = []string{nw.BridgeName()}
		cfg.PublicURL = "ws://" + sig.Addr().String()
		cfg.Room.EmptyTimeout = time.Second
		cfg.Room.DepartureTimeout = 3 * time.Second
		var region func(string) string
		if regions != nil {
			cfg.Region = regions[node]
			region = func(n string) string { return regions[n] }
		}
		self := node
		e, err := New(cfg, Deps{Cluster: cl, UDP: udp, Signal: sig, Relay: &RelayDeps{
			Region:     region,
			PacketConn: rc, Keys: keys,
			Resolve: func(n string) (string, bool) {
				a, ok := relayAddrs.Load(n)
				if !ok {
					return "", false
				}
				return a.(string), true
			},
			Hosts: func(room string) []string {
				var out []string
				for _, o := range ff.edges {
					if o.edge.cfg.NodeID != self && o.edge.Rooms().Room(room) != nil {
						out = append(out, o.edge.cfg.NodeID)
					}
				}
				return out
			},
		}})
		if err != nil {
			t.Fatal(err)
		}
		f := &fixture{t: t, edge: e, url: cfg.PublicURL, httpURL: "http://" + sig.Addr().String(), cluster: cl, net: nw, host: host}
		ff.edges = append(ff.edges, f)
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(runCtx) }()
		t.Cleanup(func() {
			stop()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Error("edge did not stop")
			}
		})
	}
	return ff
}

// linkWindow measures, over window, the RTP bytes that crossed the relay
// link from edge `from` to node `to` against the bytes the publisher's
// edge received on the layers `to` pulls of each track in sids.
func linkWindow(t *testing.T, from *fixture, to *fixture, room string, sids []string, window time.Duration) (crossed, needed int64) {
	t.Helper()
	toNode := to.edge.cfg.NodeID
	masks := map[string]uint8{}
	for _, sid := range sids {
		masks[sid] = to.edge.Rooms().Room(room).Track(sid).Pulled()
	}
	received := func() int64 {
		var n int64
		for _, sid := range sids {
			src := from.edge.Rooms().Room(room).Track(sid).Media().Source()
			for q := range src.Layers() {
				if masks[sid]&(1<<q) != 0 {
					n += int64(src.LayerStats(q, 0).Bytes)
				}
			}
		}
		return n
	}
	c0, r0 := from.edge.Relay().Stats(toNode).BytesSent, received()
	time.Sleep(window) // a measurement window of real media
	c1, r1 := from.edge.Relay().Stats(toNode).BytesSent, received()
	for _, sid := range sids {
		if m := to.edge.Rooms().Room(room).Track(sid).Pulled(); m != masks[sid] {
			t.Fatalf("track %s: the pulled layers changed during the window (%03b → %03b)", sid, masks[sid], m)
		}
	}
	return int64(c1 - c0), r1 - r0
}

func near(got, want int64, frac float64) bool {
	d := float64(got - want)
	return d <= frac*float64(want) && -d <= frac*float64(want)
}

// TestFleetRoomAcrossEdges: three edges of one cluster, one room. A
// publisher on A (VP8 simulcast, three layers, and Opus), a subscriber on
// B and one on C: both get every track, through B's and C's own fan-out of
// what they pull from A. The bytes crossing A→B are one copy of the layers
// B needs, with one subscriber on B and with twenty; when B's subscriber
// wants the low layer only, the others stop crossing. A moderator's
// removal made on A disconnects the participant on C.
func TestFleetRoomAcrossEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("three edges and SDK participants in a namespace")
	}
	ff := newFleetFixture(t, "edge-a", "edge-b", "edge-c")
	a, b, c := ff.edges[0], ff.edges[1], ff.edges[2]
	const room = "span"
	g := joinGrant(room)

	pub := a.spawn("alice", a.token("alice", g, time.Minute))
	pub.waitFor("alice connected", 20*time.Second, pub.ev("connected"))
	pub.send("simulcast")
	video := pub.waitFor("video published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "video" })
	pub.send("audio")
	audio := pub.waitFor("audio published", 20*time.Second, func(e event) bool { return e.Ev == "published" && e.Kind == "audio" })
	sids := []string{video.SID, audio.SID}

	bob := b.spawn("bob", b.token("bob", g, time.Minute))
	carol := c.spawn("carol", c.token("carol", g, time.Minute))
	for _, p := range []*proc{bob, carol} {
		p.waitFor(p.identity+" connected", 20*time.Second, p.ev("connected"))
		seen := map[string]bool{}
		for !seen[video.SID] || !seen[audio.SID] {
			e := p.waitFor(p.identity+" subscribed", 30*time.Second, p.ev("subscribed"))
			if e.From != "alice" {
				t.Fatalf("%s subscribed to a track of %q", p.identity, e.From)
			}
			seen[e.Track] = true
		}
		p.stats("100 packets of each track", 30*time.Second, func(r map[string]trackReport) bool {
			return r[video.SID].Packets >= 100 && r[audio.SID].Packets >= 100
		})
	}
	rb := b.edge.Rooms().Room(room)
	if rb.RemoteParticipant("alice") == nil || rb.RemoteParticipant("carol") == nil {
		t.Fatal("B does not list the room's participants on A and C")
	}

	// One subscriber on B, no bandwidth limit: the high layer and the
	// audio cross, once.
	waitPulled := func(what string, mask uint8) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for rb.Track(video.SID).Pulled() != mask {
			if time.Now().After(deadline) {
				t.Fatalf("B pulls %03b of the video, want %03b (%s)", rb.Track(video.SID).Pulled(), mask, what)
			}
			time.Sleep(50 * time.Millisecond) // polling
		}
		time.Sleep(500 * time.Millisecond) // the origin's side follows within a round trip
	}
	waitPulled("one subscriber", 0b100)
	crossed, needed := linkWindow(t, a, b, room, sids, 3*time.Second)
	t.Logf("1 subscriber on B: %d bytes crossed A→B, one copy of the needed layers is %d", crossed, needed)
	if !near(crossed, needed, 0.10) {
		t.Errorf("1 subscriber on B: %d bytes crossed, want %d ± 10%%", crossed, needed)
	}

	// Bob wants the low layer only: the others stop crossing.
	bob.send("quality " + video.SID + " low")
	waitPulled("low layer", 0b001)
	crossed, needed = linkWindow(t, a, b, room, sids, 3*time.Second)
	t.Logf("low layer only: %d bytes crossed, one copy is %d", crossed, needed)
	if !near(crossed, needed, 0.10) {
		t.Errorf("low layer only: %d bytes crossed, want %d ± 10%%", crossed, needed)
	}
	bob.send("quality " + video.SID + " high")
	waitPulled("high again", 0b100)

	// Twenty subscribers on B.
	var toks []string
	for i := range 19 {
		id := "viewer" + strconv.Itoa(i)
		toks = append(toks, b.token(id, g, time.Minute))
	}
	tj, _ := json.Marshal(toks)
	many := b.spawnEnv("viewers", "SC_MULTI=1", "SC_TOKENS="+string(tj))
	many.waitFor("viewers connected", 60*time.Second, many.ev("connected"))
	deadline := time.Now().Add(30 * time.Second)
	for rb.Track(video.SID).Media().Downs() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers of the video on B, want 20", rb.Track(video.SID).Media().Downs())
		}
		time.Sleep(50 * time.Millisecond) // polling
	}
	waitPulled("twenty subscribers", 0b100)
	crossed, needed = linkWindow(t, a, b, room, sids, 3*time.Second)
	t.Logf("20 subscribers on B: %d bytes crossed A→B, one copy is %d", crossed, needed)
	if !near(crossed, needed, 0.10) {
		t.Errorf("20 subscribers on B: %d bytes crossed, want %d ± 10%%", crossed, needed)
	}
	many.quit()

	// A removal made on A (RoomService) disconnects carol on C.
	key, secret := a.cluster.SigningSecret()
	rs := lksdk.NewRoomServiceClient(a.httpURL, key, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := rs.RemoveParticipant(ctx, &livekit.RoomParticipantIdentity{Room: room, Identity: "carol"}); err != nil {
		t.Fatalf("RemoveParticipant on A: %v", err)
	}
	carol.waitFor("carol disconnected", 20*time.Second, carol.ev("disconnected"))
	if c.edge.Rooms().Room(room) != nil && c.edge.Rooms().Room(room).Participant("carol") != nil {
		t.Fatal("carol is still on C")
	}
	bob.quit()
	pub.quit()
}
