package loopbridge

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/testenv"
)

// TestNamespace bridges a real namespace: a program inside reaches the
// root namespace's TCP service on its own 127.0.0.1, and a UDP socket on
// the host's bridge address (where the LiveKit SDK gathers its candidate)
// reaches the UDP service at 127.0.0.1 and gets its answers from there.
func TestNamespace(t *testing.T) {
	testenv.Need(t, "network namespaces", netns.Available())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	tsvc := echoTCP(t)
	usvc := echoUDP(t)
	tp, up := portOf(tsvc.Addr()), portOf(usvc.LocalAddr())

	for _, keep := range []bool{false, true} {
		name := map[bool]string{false: "translated source", true: "kept source"}[keep]
		t.Run(name, func(t *testing.T) {
			h, err := n.AddHost(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if keep {
				if err := n.Mirror(ctx, h); err != nil {
					t.Fatal(err)
				}
			}
			b, err := New(Config{Ports: []Port{{"tcp", tp}, {"udp", up}}, KeepSource: keep}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Add(h.Name, h); err != nil {
				t.Fatal(err)
			}
			stop := running(t, b)
			defer stop()
			bridged(t, ctx, b, h, tp, up, keep)
		})
	}
}

// bridged checks h's programs reach the services on tcp port tp and udp
// port up through b, and that pausing h cuts it off.
func bridged(t *testing.T, ctx context.Context, b *Bridge, h *netns.Host, tp, up uint16, keep bool) {
	t.Helper()
	out, err := h.Command(ctx, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"+strconv.Itoa(int(tp))+"; echo inside >&3; head -1 <&3").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "inside" {
		t.Fatalf("TCP from inside the host: %v: %q", err, out)
	}

	pc, err := h.ListenPacket(net.JoinHostPort(h.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	c := pc.(*net.UDPConn)
	defer c.Close()
	svc := "127.0.0.1:" + strconv.Itoa(int(up))
	ask := func(msg string, wait time.Duration) (string, string) {
		t.Helper()
		ua, _ := net.ResolveUDPAddr("udp4", svc)
		if _, err := c.WriteToUDP([]byte(msg), ua); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 2048)
		k, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return "", ""
		}
		return string(buf[:k]), from.String()
	}
	got, from := ask("candidate", 5*time.Second)
	peer, msg, _ := strings.Cut(got, " ")
	want := "127.0.0.1:"
	if keep {
		want = c.LocalAddr().String() // the host's own address and port
	}
	if msg != "candidate" || from != svc || !strings.HasPrefix(peer, want) {
		t.Fatalf("answer %q from %s: want the payload back from %s, the service seeing %s", got, from, svc, want)
	}
	if s := b.Stats(); s.Translated != 0 {
		t.Fatalf("%d flows translated", s.Translated)
	}

	// A cut through the bridge.
	if err := b.Pause(h.Name); err != nil {
		t.Fatal(err)
	}
	if got, _ := ask("cut", 300*time.Millisecond); got != "" {
		t.Fatalf("a paused host got %q", got)
	}
	if err := b.Resume(h.Name); err != nil {
		t.Fatal(err)
	}
	if got, _ := ask("again", 5*time.Second); got != peer+" again" {
		t.Fatalf("after Resume: %q", got)
	}
}
