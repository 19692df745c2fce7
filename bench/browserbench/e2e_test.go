package browserbench_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/bench/browserbench"
	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/internal/cluster"
	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lkJS is livekit-client's bundle from this package's folder.
const lkJS = "../../" + browserbench.DefaultLiveKitClientJS

// startEdge runs an edge in this process on the gateway of a network of
// its own (no hosts): the browsers' namespaces reach it through Run's
// bridge, as they would any server on an address of 198.18.0.0/15.
func startEdge(t *testing.T) browserbench.Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	cl, err := cluster.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ip := n.Gateway().String()
	sig, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := edge.DefaultConfig()
	cfg.PublicURL = "ws://" + sig.Addr().String()
	cfg.RTC.Interfaces = []string{n.BridgeName()}
	cfg.Room.EmptyTimeout = time.Second
	cfg.Room.DepartureTimeout = time.Second
	e, err := edge.New(cfg, edge.Deps{Cluster: cl, UDP: udp, Signal: sig})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("edge Run() = %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("edge did not stop")
		}
	})
	key, secret := cl.SigningSecret()
	return browserbench.Target{URL: cfg.PublicURL, APIKey: key, APISecret: secret}
}

func need(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end with Chromium in network namespaces")
	}
	_, err := exec.LookPath("chromium")
	if err == nil {
		_, err = os.Stat(lkJS)
	}
	testenv.Need(t, "chromium and livekit-client", err)
	testenv.Need(t, "network namespaces", netns.Available())
}

// TestRunAgainstEdge runs a short call through an edge started here: the
// subscriber must decode the publisher's video, its time to first frame
// must be measured, and the tap must see the edge's RTP to it. Nothing
// about the quality is asserted (the machine may be busy).
func TestRunAgainstEdge(t *testing.T) {
	need(t)
	target := startEdge(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := browserbench.Run(ctx, browserbench.Config{
		Target:          target,
		Duration:        15 * time.Second,
		Settle:          time.Second,
		LiveKitClientJS: lkJS,
		Shaping:         browserbench.Schedule{{At: 0, Rate: 0}, {At: 8 * time.Second, Rate: 5_000_000}},
		LogDir:          os.Getenv("BROWSERBENCH_LOGS"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Events {
		t.Log(e)
	}
	if !res.Decoded || res.Video.FramesDecoded <= 0 {
		t.Fatalf("the subscriber decoded nothing: %+v", res.Video)
	}
	if res.TTFFMs <= 0 || res.FirstPacketMs > res.TTFFMs {
		t.Errorf("first packet %.0f ms, first frame %.0f ms: not measured", res.FirstPacketMs, res.TTFFMs)
	}
	var videoDown uint64
	for _, s := range res.Wire.Streams {
		if s.Direction == "down" && s.Role == "video" {
			videoDown += s.Packets
		}
	}
	if res.Wire.Down.RTP == 0 || videoDown == 0 {
		t.Errorf("the tap saw %d RTP packets to the subscriber, %d on its video SSRC", res.Wire.Down.RTP, videoDown)
	}
	if len(res.Phases) != 2 || res.Phases[1].Packets == 0 {
		t.Errorf("phases %+v: the 5 Mbit/s cap let nothing through", res.Phases)
	}
	t.Logf("ttff %.0f ms (first packet %.0f ms), %v frames, %.0f freezes (%.1f s), fps p50 %.0f, %s, %.0f kbit/s; wire: %d RTP down, %d holes, %d resent on the media SSRC, %d RTX; publisher %s",
		res.TTFFMs, res.FirstPacketMs, res.Video.FramesDecoded, res.Video.Freezes, res.Video.FreezeSeconds, res.Video.FPSp50,
		res.Video.TimeAtHeightString(), res.Video.Kbps, res.Wire.Down.RTP, res.Wire.Holes, res.Wire.MediaResent, res.Wire.RTXPackets, res.Publisher.Reason)
	for _, s := range res.Wire.Streams {
		t.Logf("wire %s ssrc %08x %-12q pt %v: %d packets, %d padding, %d holes (%d filled), %d late, %d duplicates",
			s.Direction, s.SSRC, s.Role, s.PayloadTypes, s.Packets, s.Padding, s.Holes, s.Filled, s.Late, s.Duplicates)
	}
	t.Logf("subscriber: %.0f lost, %.0f NACKs, %.0f PLIs, %.0f retransmitted; tap drops %d", res.Video.PacketsLost, res.Video.NACKs, res.Video.PLIs, res.Video.Retransmitted, res.Wire.TapDrops)
	leftovers(t, res.Network)
}

// leftovers fails t if anything of the run's network is still there.
func leftovers(t *testing.T, n browserbench.NetworkInfo) {
	t.Helper()
	if n.Bridge == "" || n.PublisherNS == "" || n.SubscriberNS == "" {
		t.Fatalf("the result does not name its network: %+v", n)
	}
	for _, ns := range []string{n.PublisherNS, n.SubscriberNS} {
		if _, err := os.Stat("/var/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	for _, dev := range []string{n.Bridge, n.SubscriberVeth} {
		if _, err := net.InterfaceByName(dev); err == nil {
			t.Errorf("interface %s left behind", dev)
		}
	}
}
