package impair

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/testenv"
)

func TestLossArgs(t *testing.T) {
	tests := []struct {
		name    string
		sources []netip.Addr
		want    string
	}{
		{"from anyone", nil, "-w -t raw -A PREROUTING -i eth0 -p udp -m statistic --mode random --probability 0.05 -m comment --comment bench-loss:x -j DROP"},
		{"from two sources", []netip.Addr{netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.1.3")},
			"-w -t raw -A PREROUTING -i eth0 -p udp -s 198.18.1.2,198.18.1.3 -m statistic --mode random --probability 0.05 -m comment --comment bench-loss:x -j DROP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(lossArgs(0.05, tt.sources, "x"), " "); got != tt.want {
				t.Fatalf("lossArgs = %q\nwant     %q", got, tt.want)
			}
		})
	}
	out := `Chain PREROUTING (policy ACCEPT 1203 packets, 912345 bytes)
    pkts      bytes target     prot opt in     out     source               destination
      61    73200 DROP       17   --  eth0   *       0.0.0.0/0            0.0.0.0/0            statistic mode random probability 0.05000000000 /* bench-loss:b */
       7     700 DROP       17   --  eth0   *       198.18.1.2           0.0.0.0/0            statistic mode random probability 0.05000000000 /* bench-loss:c */
       3     300 DROP       17   --  eth0   *       198.18.1.3           0.0.0.0/0            statistic mode random probability 0.05000000000 /* bench-loss:c */
`
	if got := parseLossDrops(out); len(got) != 2 || got["b"] != 61 || got["c"] != 10 {
		t.Fatalf("parseLossDrops = %v; want b:61 c:10", got)
	}
	if got := parseLossDrops("Chain PREROUTING (policy ACCEPT)\n"); len(got) != 0 {
		t.Fatalf("counts %v read from a chain without the rule", got)
	}
}

func TestTproxyRule(t *testing.T) {
	got := strings.Join(tproxyRule(4000, []netip.Addr{netip.MustParseAddr("198.18.1.2")}), " ")
	want := "iptables -w -t mangle -A PREROUTING -i eth0 -p udp -s 198.18.1.2 -j TPROXY --on-ip 127.0.0.1 --on-port 4000 --tproxy-mark 0x1/0x1"
	if got != want {
		t.Fatalf("tproxyRule = %q\nwant          %q", got, want)
	}
}

func TestNewDelayRelayRefuses(t *testing.T) {
	a := netip.MustParseAddr("198.18.1.2")
	tests := []struct {
		name    string
		classes []Class
		want    string
	}{
		{"no class", nil, "without classes"},
		{"catch-all beside another", []Class{{}, {Sources: []netip.Addr{a}}}, "only one"},
		{"negative delay", []Class{{Delay: -time.Millisecond}}, "negative"},
		{"a source twice", []Class{{Sources: []netip.Addr{a}}, {Sources: []netip.Addr{a}}}, "two classes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewDelayRelay(context.Background(), &netns.Host{}, tt.classes, 1)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewDelayRelay = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestDelayClock: every datagram is held delay ± jitter, except that none
// leaves before the one before it.
func TestDelayClock(t *testing.T) {
	const delay, jitter = 40 * time.Millisecond, 30 * time.Millisecond
	c := delayClock{delay: delay, jitter: jitter, rnd: rand.New(rand.NewPCG(1, 2))}
	t0 := time.Unix(1000, 0)
	var last time.Time
	var spread []time.Duration
	for i := range 2000 {
		came := t0.Add(time.Duration(i) * 20 * time.Millisecond) // further apart than the jitter: most keep their own delay
		at := c.release(came)
		held := at.Sub(came)
		if at.Before(last) {
			t.Fatalf("datagram %d leaves at %v, before the one before it (%v)", i, at, last)
		}
		if held < delay-jitter || (held > delay+jitter && at != last) {
			t.Fatalf("datagram %d held %v, outside %v±%v", i, held, delay, jitter)
		}
		if at != last {
			spread = append(spread, held)
		}
		last = at
	}
	slices.Sort(spread)
	if lo, hi := spread[len(spread)/20], spread[len(spread)*19/20]; hi-lo < jitter {
		t.Fatalf("held between %v and %v (5th–95th percentile): the jitter does not show", lo, hi)
	}
	plain := delayClock{delay: delay}
	if got := plain.release(t0).Sub(t0); got != delay {
		t.Fatalf("without jitter held %v, want %v", got, delay)
	}
	neg := delayClock{jitter: 10 * time.Millisecond, rnd: rand.New(rand.NewPCG(3, 4))}
	for range 100 {
		if held := neg.release(t0).Sub(t0); held < 0 {
			t.Fatalf("held %v: below zero", held)
		}
	}
}

// impairNet makes a network with one host and a UDP "server" on its
// gateway.
func impairNet(t *testing.T) (context.Context, *netns.Network, *netns.Host, *net.UDPConn) {
	t.Helper()
	testenv.Need(t, "network namespaces", netns.Available())
	testenv.Need(t, "iptables", Available())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	h, err := n.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(n.Gateway(), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return ctx, n, h, srv
}

// TestLossInNamespace: the loss rule drops about its share of what comes
// into the host over UDP from its source, counts what it dropped under its
// tag, and leaves what the host sends alone.
func TestLossInNamespace(t *testing.T) {
	ctx, n, h, srv := impairNet(t)
	pc, err := h.ListenPacket(net.JoinHostPort(h.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := AddLoss(ctx, h, 0.5, []netip.Addr{n.Gateway()}, "gw"); err != nil {
		t.Fatal(err)
	}
	// The host's datagrams reach the server (the rule is on the way in).
	if _, err := pc.WriteTo([]byte("up"), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if _, _, err := srv.ReadFrom(buf); err != nil {
		t.Fatalf("the host's datagram did not reach the server: %v", err)
	}
	const sent = 400
	for range sent {
		if _, err := srv.WriteTo([]byte("down"), pc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	_ = pc.SetReadDeadline(time.Now().Add(time.Second))
	for {
		if _, _, err := pc.ReadFrom(buf); err != nil {
			break
		}
		got++
		_ = pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	}
	dropped, err := LossDrops(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if got < sent/4 || got > sent*3/4 || uint64(sent-got) != dropped["gw"] {
		t.Fatalf("%d of %d datagrams came through, the rule counted %v dropped: want about half, and the two to add up", got, sent, dropped)
	}
}

// TestDelayRelayInNamespace: with the relay in place, the server's
// datagrams reach the host's socket from the server's own address and
// port, in order, none of them sooner than its class's delay after it was
// sent; a source of another class keeps its own delay; the host's answers
// go straight back.
func TestDelayRelayInNamespace(t *testing.T) {
	ctx, n, h, srv := impairNet(t)
	pc, err := h.ListenPacket(net.JoinHostPort(h.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// A second sender, another host of the network: the short class.
	other, err := n.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opc, err := other.ListenPacket(net.JoinHostPort(other.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer opc.Close()
	const delay, jitter, short = 80 * time.Millisecond, 20 * time.Millisecond, 10 * time.Millisecond
	rl, err := NewDelayRelay(ctx, h, []Class{
		{Sources: []netip.Addr{n.Gateway()}, Delay: delay, Jitter: jitter},
		{Sources: []netip.Addr{other.Addr()}, Delay: short},
	}, 7)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); rl.Run(rctx) }()
	defer func() { stop(); <-done }()

	const count = 50
	sent := make([]time.Time, count)
	for i := range count {
		sent[i] = time.Now()
		if _, err := srv.WriteTo([]byte{byte(i)}, pc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // paces the sender, as media would be
	}
	buf := make([]byte, 64)
	for i := range count {
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		came := time.Now()
		if k != 1 || int(buf[0]) != i {
			t.Fatalf("datagram %d: got %v: out of order", i, buf[:k])
		}
		if from.String() != srv.LocalAddr().String() {
			t.Fatalf("datagram %d came from %v, not from the server %v", i, from, srv.LocalAddr())
		}
		if held := came.Sub(sent[i]); held < delay-jitter {
			t.Fatalf("datagram %d arrived %v after it was sent: sooner than %v", i, held, delay-jitter)
		}
	}
	// The other class: held its own (shorter) time, from its own sender.
	t0 := time.Now()
	if _, err := opc.WriteTo([]byte("o"), pc.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	k, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:k]) != "o" || from.(*net.UDPAddr).AddrPort() != opc.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("the other host's datagram: %q from %v, %v", buf[:k], from, err)
	}
	if held := time.Since(t0); held < short {
		t.Fatalf("the other class's datagram held %v, less than its %v", held, short)
	}
	// The answer needs no relay.
	if _, err := pc.WriteTo([]byte("ack"), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if k, _, err := srv.ReadFrom(buf); err != nil || string(buf[:k]) != "ack" {
		t.Fatalf("answer %q, %v", buf[:k], err)
	}
	// The relay counts a datagram just after sending it: wait for the count.
	for deadline := time.Now().Add(2 * time.Second); rl.Stats().Relayed < count+1 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if st := rl.ClassStats(0); st.Relayed != count || st.Overflow != 0 || st.Errors != 0 || st.MeanDelayMs < float64((delay-jitter).Milliseconds()) {
		t.Fatalf("long class stats %+v", st)
	}
	if st := rl.ClassStats(1); st.Relayed != 1 || st.MeanDelayMs < float64(short.Milliseconds()) {
		t.Fatalf("short class stats %+v", st)
	}
	if st := rl.Stats(); st.Relayed != count+1 {
		t.Fatalf("relay stats %+v", st)
	}
}
