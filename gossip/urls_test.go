package gossip

import (
	"errors"
	"testing"
	"time"
)

// TestAdvertisedURLsMatchAllowlist: a member that advertises signalling,
// probe or TURN URLs or a relay address on a host outside the allowlist is kept out (MetaErr,
// which placement and moderation skip), whatever key it holds; one on an
// allowed host is used; a node refuses to advertise a host outside its own
// allowlist.
func TestAdvertisedURLsMatchAllowlist(t *testing.T) {
	allow := func(c *Config, _ *Deps) { c.URLAllowlist = []string{"*.example.com", "203.0.113.0/24"} }
	cp := startNode(t, "cp", nil, allow)
	good := startNode(t, "good", []string{cp.Addr()})
	rogue := startNode(t, "rogue", []string{cp.Addr()})
	relay := startNode(t, "relay", []string{cp.Addr()})
	if err := good.UpdateMeta(Meta{SignalURL: "wss://edge-1.eu.example.com", ProbeURL: "https://edge-1.eu.example.com/probe",
		TURNURLs:  []string{"turn:203.0.113.7:3478?transport=udp", "turns:edge-1.eu.example.com:443?transport=tcp"},
		RelayAddr: "203.0.113.7:7000"}); err != nil {
		t.Fatal(err)
	}
	if err := relay.UpdateMeta(Meta{SignalURL: "wss://edge-2.eu.example.com", RelayAddr: "169.254.169.254:80"}); err != nil {
		t.Fatal(err)
	}
	if err := rogue.UpdateMeta(Meta{SignalURL: "ws://169.254.169.254", TURNURLs: []string{"turn:evil.example.org:3478"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "both edges' metadata at the control plane", func() bool {
		g, ok1 := memberByID(cp.Node, "good")
		r, ok2 := memberByID(cp.Node, "rogue")
		return ok1 && ok2 && (g.Meta.SignalURL != "" || g.MetaErr != nil) && (r.Meta.SignalURL != "" || r.MetaErr != nil)
	})
	if g, _ := memberByID(cp.Node, "good"); g.MetaErr != nil {
		t.Fatalf("allowed edge refused: %v", g.MetaErr)
	}
	if r, _ := memberByID(cp.Node, "rogue"); !errors.Is(r.MetaErr, ErrURLNotAllowed) {
		t.Fatalf("rogue edge: MetaErr %v, want ErrURLNotAllowed", r.MetaErr)
	}
	waitFor(t, 10*time.Second, "the relaying edge's metadata at the control plane", func() bool {
		r, ok := memberByID(cp.Node, "relay")
		return ok && (r.Meta.SignalURL != "" || r.MetaErr != nil)
	})
	if r, _ := memberByID(cp.Node, "relay"); !errors.Is(r.MetaErr, ErrURLNotAllowed) {
		t.Fatalf("edge with a relay address off the allowlist: MetaErr %v, want ErrURLNotAllowed", r.MetaErr)
	}
	if a, ok := cp.RelayAddr("good"); !ok || a != "203.0.113.7:7000" {
		t.Fatalf("RelayAddr(good) = %q %v", a, ok)
	}
	if a, ok := cp.RelayAddr("relay"); ok {
		t.Fatalf("RelayAddr of a refused member = %q", a)
	}
	for _, m := range []Meta{
		{SignalURL: "ws://internal.corp:7880"},
		{SignalURL: "wss://example.com.evil.org"},
		{SignalURL: "wss://user@edge.example.com"},
		{TURNURLs: []string{"turn:[2001:db8::1]:3478"}},
		{ProbeURL: "http://10.0.0.1/probe"},
		{RelayAddr: "10.0.0.1:7000"},
	} {
		if err := cp.UpdateMeta(m); !errors.Is(err, ErrURLNotAllowed) {
			t.Errorf("UpdateMeta(%+v) = %v, want ErrURLNotAllowed", m, err)
		}
	}
	bad := Default()
	bad.NodeID, bad.Region, bad.URLAllowlist = "x", "eu", []string{"*"}
	if err := bad.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("allowlist \"*\": %v, want ErrInvalid", err)
	}
}
