package turn

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/spacecast/spacecast/internal/turncred"
)

// TestRelayReachesOnlyWhatACallNeeds: with no allowlist (the production
// default) a relay reaches public addresses that are not this host's and
// the fleet's edge media endpoints, nothing else: not the relay's own or
// the node's addresses, nor the special ranges (documentation, private...;
// the IPv6 ones, ::/96 and Teredo, are in TestPolicy: an IPv4 relay answers
// 443 to any IPv6 peer), nor another port of an edge's host.
// Permissions and channel binds are only asked for: no packet leaves.
func TestRelayReachesOnlyWhatACallNeeds(t *testing.T) {
	onEveryPath(t, testRelayReachesOnlyWhatACallNeeds)
}

func testRelayReachesOnlyWhatACallNeeds(t *testing.T, path Option) {
	nodeIP := netip.MustParseAddr("9.9.9.9")  // the node's public address (1:1 NAT)
	ifaceIP := netip.MustParseAddr("8.8.4.4") // an interface's address
	ts2 := startServerOpts(t, func(c *Config) {
		c.Allow = nil
		c.RelayIP = "8.8.8.8" // advertised in XOR-RELAYED-ADDRESS
	},
		[]Option{path, WithOwnAddrs(nodeIP), withInterfaceAddrs(ifaceIP, netip.MustParseAddr("127.0.0.1"))})
	edge := netip.MustParseAddrPort("10.1.2.3:7882") // an edge's media port, on a private address
	ts2.SetPeers([]netip.AddrPort{edge})
	user, pass := creds(testSecret, "alice", time.Hour)
	c := newRawClient(t, ts2.udp, user, pass)
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %v", code)
	}
	tests := []struct {
		name   string
		method stun.Method
		peer   string
		ok     bool
	}{
		{"public address", stun.MethodCreatePermission, "1.1.1.1:443", true},
		{"the fleet's edge media endpoint", stun.MethodChannelBind, edge.String(), true},
		{"the edge's host, another port", stun.MethodChannelBind, "10.1.2.3:22", false},
		{"the relay's own advertised address", stun.MethodCreatePermission, "8.8.8.8:3478", false},
		{"the node's public address", stun.MethodCreatePermission, nodeIP.String() + ":22", false},
		{"an interface's address", stun.MethodCreatePermission, ifaceIP.String() + ":22", false},
		{"documentation", stun.MethodCreatePermission, "203.0.113.9:53", false},
		{"private", stun.MethodCreatePermission, "10.0.0.1:53", false},
		{"loopback", stun.MethodCreatePermission, "127.0.0.1:53", false},
	}
	ch := uint16(0x4000)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			var extra []stun.Setter
			if tt.method == stun.MethodChannelBind {
				ch++
				extra = append(extra, channelNumber(ch))
			}
			code := c.peerRequest(tt.method, netip.MustParseAddrPort(tt.peer), extra...)
			if (code == 0) != tt.ok {
				t.Fatalf("%v to %s: error %v, want allowed=%v", tt.method, tt.peer, code, tt.ok)
			}
			if !tt.ok && code != stun.CodeForbidden {
				t.Fatalf("refusal %v, want 403", code)
			}
		})
	}
	if ts2.guard.count() != 0 {
		t.Fatal("a packet was about to leave for a non-loopback address")
	}
}

// TestAllocationCapsByDefault: every allocation has a bandwidth cap unless
// the operator removes it, and the server as a whole a cap on allocations.
func TestAllocationCapsByDefault(t *testing.T) { onEveryPath(t, testAllocationCapsByDefault) }

func testAllocationCapsByDefault(t *testing.T, path Option) {
	def := Config{RelayIP: "203.0.113.1"}.WithDefaults()
	if def.BandwidthBytes <= 0 || def.MaxAllocations <= 0 {
		t.Fatalf("defaults: bandwidthBytes %d, maxAllocations %d; want both capped", def.BandwidthBytes, def.MaxAllocations)
	}
	ts := startServerOpts(t, func(c *Config) { c.MaxAllocations = 2 }, []Option{path})
	for i, id := range []string{"a", "b", "c"} {
		user, pass := creds(testSecret, id, time.Hour)
		code := newRawClient(t, ts.udp, user, pass).allocate()
		if want := i < 2; (code == 0) != want {
			t.Fatalf("allocation %d: %v, want allowed=%v", i+1, code, want)
		}
		if i == 2 && code != stun.CodeAllocQuotaReached {
			t.Fatalf("allocation over the server's cap: %v, want 486", code)
		}
	}
}

// TestRevokedCredentialStopsWorking: once a participant's removal reaches
// the TURN server, its allocations close and its credentials (issued
// before the removal) are refused; a credential issued afterwards (a new
// invitation) works.
func TestRevokedCredentialStopsWorking(t *testing.T) {
	onEveryPath(t, testRevokedCredentialStopsWorking)
}

func testRevokedCredentialStopsWorking(t *testing.T, path Option) {
	ts := startServerOpts(t, nil, []Option{path})
	user, pass := creds(testSecret, "mallory", DefaultCredentialTTL)
	c := newRawClient(t, ts.udp, user, pass)
	if code := c.allocate(); code != 0 {
		t.Fatalf("allocate: %v", code)
	}
	removed := time.Now()
	ts.Revoke("mallory", removed, removed.Add(time.Hour))
	deadline := time.Now().Add(5 * time.Second)
	for ts.Stats().Allocations != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the removed participant's allocation is still open")
		}
		time.Sleep(10 * time.Millisecond) // polling pion's deletion
	}
	again := newRawClient(t, ts.udp, user, pass)
	if code := again.allocate(); code != stun.CodeUnauthorized {
		t.Fatalf("allocate with the old credential: %v, want 401", code)
	}
	user2, pass2 := turncred.Mint(testSecret, "mallory", removed.Add(DefaultCredentialTTL+time.Minute))
	if code := newRawClient(t, ts.udp, user2, pass2).allocate(); code != 0 {
		t.Fatalf("allocate with a credential issued after the removal: %v", code)
	}
	user3, pass3 := creds(testSecret, "bob", time.Hour)
	if code := newRawClient(t, ts.udp, user3, pass3).allocate(); code != 0 {
		t.Fatalf("another identity: %v", code)
	}
}
