package webhook

import (
	"errors"
	"net/netip"
	"testing"
)

func TestGuard(t *testing.T) {
	g, err := newGuard(false, []string{"10.1.0.0/16", "fd12::7"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		ok   bool
	}{
		{"93.184.215.14", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.0.0.1", false},
		{"10.1.2.3", true}, // allowed prefix
		{"172.16.5.4", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // AWS/GCP/Azure metadata
		{"fd00:ec2::254", false},   // AWS metadata over IPv6
		{"fd12::7", true},          // allowed address
		{"fd12::8", false},
		{"100.100.100.200", false}, // Alibaba metadata (CGNAT range)
		{"fe80::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},       // NAT64 of 10.0.0.1
		{"64:ff9b::5db8:d70e", true},    // NAT64 of a public address
		{"64:ff9b:1::5db8:d70e", false}, // local-use NAT64: refused whatever it embeds
		{"2002:a00:1::1", false},        // 6to4 of 10.0.0.1
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"198.18.0.1", false},
		{"192.0.2.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := g.check(netip.MustParseAddr(tt.addr))
			if tt.ok != (err == nil) {
				t.Fatalf("check(%s) = %v, want ok=%v", tt.addr, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("check(%s) = %v, want ErrForbiddenAddress", tt.addr, err)
			}
			if err := g.control("tcp", netip.AddrPortFrom(netip.MustParseAddr(tt.addr), 443).String(), nil); tt.ok != (err == nil) {
				t.Fatalf("control(%s) = %v", tt.addr, err)
			}
		})
	}
	if _, err := newGuard(false, []string{"not-a-cidr"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("newGuard(bad) = %v", err)
	}
}

// TestGuardRefusesLocalUseNAT64: the local-use NAT64 prefix (RFC 8215,
// 64:ff9b:1::/48) translates to whatever IPv4 network the operator's
// translator serves, private ones included, at an offset the guard cannot
// know: it is refused outright.
func TestGuardRefusesLocalUseNAT64(t *testing.T) {
	g, err := newGuard(false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"64:ff9b:1::a00:1", "64:ff9b:1::5db8:d70e", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "64:ff9b:1:a00:1::"} {
		if err := g.check(netip.MustParseAddr(a)); err == nil {
			t.Errorf("check(%s) = nil, want refused", a)
		}
	}
	if err := g.check(netip.MustParseAddr("64:ff9b::5db8:d70e")); err != nil {
		t.Errorf("the well-known NAT64 prefix with a public address is refused: %v", err)
	}
}
