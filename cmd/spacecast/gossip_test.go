package main

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/spacecast/spacecast/edge"
	"github.com/spacecast/spacecast/gossip"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// A gossip section with a wan section binds the WAN pool's port too, and
// a WAN port that cannot be bound fails the start and releases the region
// pool's.
func TestStartGossipWAN(t *testing.T) {
	g := gossip.Default()
	g.NodeID, g.Region, g.BindAddr = "edge-1", "eu", "127.0.0.1:0"
	g.WAN = gossip.WANConfig{BindAddr: "127.0.0.1:0"}
	log := slog.New(slog.DiscardHandler)
	node, err := startGossip(g, clusterkey.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	if node.WANAddr() == "" || node.WANAddr() == node.Addr() {
		t.Fatalf("region pool %s, WAN pool %q", node.Addr(), node.WANAddr())
	}
	wan := node.WANAddr()

	// The WAN port is taken (by the node above): the start fails, and the
	// region pool's port is free again.
	pc, ln, err := gossip.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lan := ln.Addr().String()
	_, _ = pc.Close(), ln.Close()
	g2 := g
	g2.NodeID, g2.BindAddr, g2.WAN.BindAddr = "edge-2", lan, wan
	_, err = startGossip(g2, clusterkey.Config{}, log)
	if err == nil || !strings.Contains(err.Error(), "wan.bindAddr") {
		t.Fatalf("start on a taken WAN port: %v", err)
	}
	pc, ln, err = gossip.Listen(lan)
	if err != nil {
		t.Fatalf("the region pool's port was kept by the failed start: %v", err)
	}
	_, _ = pc.Close(), ln.Close()
	if err := node.Close(); err != nil {
		t.Fatal(err)
	}
	// Closed: both ports are free for a new node.
	g3 := g
	g3.BindAddr, g3.WAN.BindAddr = node.Addr(), wan
	again, err := startGossip(g3, clusterkey.Config{}, log)
	if err != nil {
		t.Fatalf("ports not released by Close: %v", err)
	}
	_ = again.Close()
}

func TestEdgeRelaySection(t *testing.T) {
	tests := []struct {
		advertise string
		ok        bool
	}{
		{"", true},
		{"relay-1.eu-west.example.com:7000", true},
		{"203.0.113.7:7000", true},
		{"[2001:db8::7]:7000", true},
		{"relay-1.example.com", false},
		{"relay-1.example.com:0", false},
		{"relay-1.example.com:70000", false},
		{":7000", false},
		{"0.0.0.0:7000", false},
		{"[::]:7000", false},
	}
	for _, tc := range tests {
		err := edgeRelay{Advertise: tc.advertise}.validate()
		if (err == nil) != tc.ok {
			t.Errorf("relay.advertise %q: %v, want ok %v", tc.advertise, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "relay.advertise") {
			t.Errorf("error %q does not name the key", err)
		}
	}
}

// The edge advertises its relay address and the media endpoints another
// host can reach.
func TestEdgeMeta(t *testing.T) {
	cfg := edgeFile{Edge: edge.DefaultConfig(), Relay: edgeRelay{Advertise: "relay-1.example.com:7000"}}
	cfg.Edge.PublicURL = "wss://edge-1.example.com"
	media := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:7882"), netip.MustParseAddrPort("198.18.0.1:7882"),
		netip.MustParseAddrPort("198.18.0.1:7881"), netip.MustParseAddrPort("[fe80::1]:7882"),
	}
	m := edgeMeta(cfg, media)
	if m.RelayAddr != "relay-1.example.com:7000" || m.ProbeURL != "https://edge-1.example.com/probe" {
		t.Fatalf("meta %+v", m)
	}
	if want := media[1:3]; !slices.Equal(m.MediaAddrs, want) {
		t.Fatalf("media %v, want %v", m.MediaAddrs, want)
	}
}
