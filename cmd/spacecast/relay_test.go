package main

import (
	"testing"

	"github.com/spacecast/spacecast/gossip"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// TestEdgeRelayListen: a running relay needs gossip and gossip keys,
// a listen address, and an address to advertise (its own when it names a
// host).
func TestEdgeRelayListen(t *testing.T) {
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	withGossip := func(r edgeRelay) edgeFile {
		g := gossip.Default()
		g.NodeID = "edge-1"
		return edgeFile{Cluster: cl, Gossip: g, Relay: r}
	}
	noKeys := withGossip(edgeRelay{Listen: "10.0.0.1:7882"})
	noKeys.Cluster.GossipKeys = nil
	tests := []struct {
		name      string
		file      edgeFile
		ok        bool
		advertise string
	}{
		{"off", edgeFile{}, true, ""},
		{"listen on a host", withGossip(edgeRelay{Listen: "10.0.0.1:7882"}), true, "10.0.0.1:7882"},
		{"listen everywhere, advertised", withGossip(edgeRelay{Listen: "0.0.0.0:7882", Advertise: "edge-1.example.com:7882"}), true, "edge-1.example.com:7882"},
		{"listen everywhere, nothing to advertise", withGossip(edgeRelay{Listen: "0.0.0.0:7882"}), false, ""},
		{"no gossip", edgeFile{Cluster: cl, Relay: edgeRelay{Listen: "10.0.0.1:7882"}}, false, "10.0.0.1:7882"},
		{"no gossip keys", noKeys, false, "10.0.0.1:7882"},
		{"listen not host:port", withGossip(edgeRelay{Listen: "7882"}), false, ""},
		{"advertise without port", withGossip(edgeRelay{Listen: "0.0.0.0:7882", Advertise: "edge-1.example.com"}), false, "edge-1.example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.file.Relay.check(tc.file)
			if (err == nil) != tc.ok {
				t.Fatalf("validate = %v, want ok %v", err, tc.ok)
			}
			if got := tc.file.Relay.advertise(); got != tc.advertise {
				t.Fatalf("advertise = %q, want %q", got, tc.advertise)
			}
		})
	}
}
