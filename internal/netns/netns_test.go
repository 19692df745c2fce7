package netns

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestNetwork(t *testing.T) {
	if err := Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs network namespaces: %v", err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	a, err := n.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}

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
