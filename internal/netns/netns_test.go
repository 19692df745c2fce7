//go:build linux

package netns

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spacecast/spacecast/internal/testenv"
)

func needRoot(t *testing.T) {
	t.Helper()
	testenv.Need(t, "network namespaces", Available())
}

// network makes a network that lasts as long as the test, and a context
// for its commands (root only).
func network(t *testing.T) (context.Context, *Network) {
	t.Helper()
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	n, err := NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return ctx, n
}

func host(t *testing.T, ctx context.Context, n *Network) *Host {
	t.Helper()
	h, err := n.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNetwork(t *testing.T) {
	ctx, n := network(t)
	a := host(t, ctx, n)
	b := host(t, ctx, n)

	// A server in the root namespace on the gateway is reachable from a host.
	ln, err := net.Listen("tcp", net.JoinHostPort(n.Gateway().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hello\n"))
			_ = c.Close()
		}
	}()
	out, err := a.Command(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+n.Gateway().String()+"/"+portOf(ln)+"; head -1 <&3").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello" {
		t.Fatalf("host could not reach the gateway: %v: %q", err, out)
	}

	// Hosts reach each other through the bridge.
	if out, err := a.Command(ctx, "ping", "-c", "1", "-W", "2", b.Addr().String()).CombinedOutput(); err != nil {
		t.Fatalf("ping between hosts: %v: %s", err, out)
	}

	// A host has no route anywhere else.
	out, err = a.Command(ctx, "ip", "route").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "default") {
		t.Fatalf("host has a default route: %s", out)
	}

	// Disconnect cuts the host off; Reconnect restores it.
	if err := b.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Command(ctx, "ping", "-c", "1", "-W", "1", b.Addr().String()).Run(); err == nil {
		t.Fatal("ping succeeded to a disconnected host")
	}
	if err := b.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.Command(ctx, "ping", "-c", "1", "-W", "1", b.Addr().String()).Run() != nil {
		if time.Now().After(deadline) {
			t.Fatal("host did not come back after Reconnect")
		}
	}

	name := a.Name
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	list, _ := os.ReadDir("/var/run/netns")
	for _, e := range list {
		if e.Name() == name {
			t.Fatalf("namespace %s left behind", name)
		}
	}
}

func portOf(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// TestListenInNamespace opens sockets inside a host from this process: the
// host's own programs reach them on its loopback, the root namespace does
// not see them, and a socket bound to the host's bridge address (where the
// LiveKit SDK gathers) reaches the host's loopback too.
func TestListenInNamespace(t *testing.T) {
	ctx, n := network(t)
	h := host(t, ctx, n)
	before, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("tcp on the host's loopback", func(t *testing.T) {
		ln, err := h.ListenTCP("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_, _ = c.Write([]byte("inside\n"))
				_ = c.Close()
			}
		}()
		out, err := h.Command(ctx, "bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"+portOf(ln)+"; head -1 <&3").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "inside" {
			t.Fatalf("the host could not reach the socket on its loopback: %v: %q", err, out)
		}
		// The root namespace's loopback does not have it.
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+portOf(ln), time.Second)
		if err == nil {
			c.Close()
			t.Skip("port taken in the root namespace too (by chance): cannot tell")
		}
	})

	t.Run("udp from the bridge address to the host's loopback", func(t *testing.T) {
		pc, err := h.ListenPacket("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		// A socket on the host's bridge address, as the SDK's candidate.
		src, err := h.ListenPacket(net.JoinHostPort(h.Addr().String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		if _, err := src.WriteTo([]byte("ping"), pc.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		k, from, err := pc.ReadFrom(buf)
		if err != nil || string(buf[:k]) != "ping" {
			t.Fatalf("read %q, %v", buf[:k], err)
		}
		if from.String() != src.LocalAddr().String() {
			t.Fatalf("from %v, want %v", from, src.LocalAddr())
		}
		// And the answer finds its way back.
		if _, err := pc.WriteTo([]byte("pong"), from); err != nil {
			t.Fatal(err)
		}
		_ = src.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, from, err = src.ReadFrom(buf)
		if err != nil || string(buf[:k]) != "pong" || from.String() != pc.LocalAddr().String() {
			t.Fatalf("answer %q from %v, %v", buf[:k], from, err)
		}
	})

	t.Run("udp with socket options", func(t *testing.T) {
		// An address the host does not have: only a transparent socket
		// (IP_TRANSPARENT, set by the config's Control) may bind it.
		const foreign = "203.0.113.7:0"
		if pc, err := h.ListenPacket(foreign); err == nil {
			pc.Close()
			t.Fatal("bound a foreign address without IP_TRANSPARENT")
		}
		lc := &net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1) })
			return errors.Join(err, serr)
		}}
		pc, err := h.ListenPacketConfig(lc, foreign)
		if err != nil {
			t.Fatal(err)
		}
		pc.Close()
	})

	t.Run("missing namespace", func(t *testing.T) {
		ghost := &Host{Name: "sc-no-such-namespace"}
		if _, err := ghost.ListenTCP("127.0.0.1:0"); err == nil {
			t.Fatal("listened in a namespace that does not exist")
		}
	})

	after, err := os.Readlink("/proc/self/ns/net")
	if err != nil || after != before {
		t.Fatalf("the process's namespace changed: %s -> %s (%v)", before, after, err)
	}
}

// TestMirror: once mirrored, the host's address can be bound in the root
// namespace, and what a socket there sends to loopback carries it.
func TestMirror(t *testing.T) {
	ctx, n := network(t)
	h := host(t, ctx, n)
	at := net.JoinHostPort(h.Addr().String(), "0")
	if pc, err := net.ListenPacket("udp4", at); err == nil {
		pc.Close()
		t.Fatalf("bound %s in the root namespace before Mirror", at)
	}
	if err := n.Mirror(ctx, h); err != nil {
		t.Fatal(err)
	}
	src, err := net.ListenPacket("udp4", at)
	if err != nil {
		t.Fatalf("after Mirror: %v", err)
	}
	defer src.Close()
	dst, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := src.WriteTo([]byte("x"), dst.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	_ = dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := dst.ReadFrom(make([]byte, 8))
	if err != nil || from.String() != src.LocalAddr().String() {
		t.Fatalf("from %v (%v), want %v", from, err, src.LocalAddr())
	}
	// And the answer comes back to it.
	if _, err := dst.WriteTo([]byte("y"), from); err != nil {
		t.Fatal(err)
	}
	_ = src.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := src.ReadFrom(make([]byte, 8)); err != nil {
		t.Fatalf("answer: %v", err)
	}
}
