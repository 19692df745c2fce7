package browserbench

import (
	"context"
	"errors"
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

func TestParseLoss(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{"", 0, ""},
		{"5%", 0.05, ""},
		{" 0.5 % ", 0.005, ""},
		{"0.05", 0.05, ""},
		{"50%", 0.5, ""},
		{"0%", 0, ""},
		{"5", 0, "a fraction"},
		{"51%", 0, "at most 50%"},
		{"-1%", 0, "percentage"},
		{"lots", 0, "percentage"},
		{"NaN", 0, "percentage"},
	} {
		got, err := ParseLoss(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseLoss(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got < tc.want-1e-12 || got > tc.want+1e-12 {
			t.Errorf("ParseLoss(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if tc.want > 0 {
			if back, err := ParseLoss(FormatLoss(got)); err != nil || back < got-1e-12 || back > got+1e-12 {
				t.Errorf("FormatLoss(%v) = %q does not read back: %v %v", got, FormatLoss(got), back, err)
			}
		}
	}
}

func TestLinkString(t *testing.T) {
	for _, tc := range []struct {
		l    Link
		want string
	}{
		{Link{}, "clean"},
		{Link{Shaping: Fixed(1_500_000)}, "cap 0s:1.5mbit"},
		{Link{Loss: 0.05}, "loss 5%"},
		{Link{Delay: 40 * time.Millisecond, Jitter: 20 * time.Millisecond}, "delay 40ms±20ms"},
		{Link{Jitter: 30 * time.Millisecond}, "delay 0s±30ms"},
		{Link{Shaping: Fixed(500_000), Loss: 0.01, Delay: 10 * time.Millisecond}, "cap 0s:500kbit, loss 1%, delay 10ms"},
	} {
		if got := tc.l.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.l, got, tc.want)
		}
		if tc.l.Clean() != (tc.want == "clean") {
			t.Errorf("%+v: Clean() = %v", tc.l, tc.l.Clean())
		}
	}
}

func TestLossArgs(t *testing.T) {
	got := strings.Join(lossArgs(0.05), " ")
	want := "-w -t raw -A PREROUTING -i eth0 -p udp -m statistic --mode random --probability 0.05 -m comment --comment browserbench-loss -j DROP"
	if got != want {
		t.Fatalf("lossArgs = %q\nwant     %q", got, want)
	}
	out := `Chain PREROUTING (policy ACCEPT 1203 packets, 912345 bytes)
    pkts      bytes target     prot opt in     out     source               destination
      61    73200 DROP       17   --  eth0   *       0.0.0.0/0            0.0.0.0/0            statistic mode random probability 0.05000000000 /* browserbench-loss */
`
	if n, ok := parseLossDrops(out); !ok || n != 61 {
		t.Fatalf("parseLossDrops = %d, %v; want 61", n, ok)
	}
	if _, ok := parseLossDrops("Chain PREROUTING (policy ACCEPT)\n"); ok {
		t.Fatal("a count read from a chain without the rule")
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
func impairNet(t *testing.T) (context.Context, *netns.Host, *net.UDPConn) {
	t.Helper()
	testenv.Need(t, "network namespaces", netns.Available())
	testenv.Need(t, "iptables", needIptables())
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
	return ctx, h, srv
}

// TestLossInNamespace: the loss rule drops about its share of what comes
// into the host over UDP, counts what it dropped, and leaves what the
// host sends alone.
func TestLossInNamespace(t *testing.T) {
	ctx, h, srv := impairNet(t)
	pc, err := h.ListenPacket(net.JoinHostPort(h.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := addLoss(ctx, h, 0.5); err != nil {
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
	dropped, err := lossDrops(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if got < sent/4 || got > sent*3/4 || uint64(sent-got) != dropped {
		t.Fatalf("%d of %d datagrams came through, the rule counted %d dropped: want about half, and the two to add up", got, sent, dropped)
	}
}

// TestDelayRelayInNamespace: with the relay in place, the server's
// datagrams reach the host's socket from the server's own address and
// port, in order, none of them sooner than the delay after it was sent;
// the host's answers go straight back.
func TestDelayRelayInNamespace(t *testing.T) {
	ctx, h, srv := impairNet(t)
	pc, err := h.ListenPacket(net.JoinHostPort(h.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	const delay, jitter = 80 * time.Millisecond, 20 * time.Millisecond
	rl, err := newDelayRelay(ctx, h, delay, jitter, 7)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); rl.run(rctx) }()
	defer func() { stop(); <-done }()

	const n = 50
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = time.Now()
		if _, err := srv.WriteTo([]byte{byte(i)}, pc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // paces the sender, as media would be
	}
	buf := make([]byte, 64)
	for i := range n {
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
	// The answer needs no relay.
	if _, err := pc.WriteTo([]byte("ack"), srv.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if k, _, err := srv.ReadFrom(buf); err != nil || string(buf[:k]) != "ack" {
		t.Fatalf("answer %q, %v", buf[:k], err)
	}
	st := rl.stats()
	if st.Relayed != n || st.Overflow != 0 || st.Errors != 0 || st.MeanDelayMs < float64((delay-jitter).Milliseconds()) {
		t.Fatalf("relay stats %+v", st)
	}
}
