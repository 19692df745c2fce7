package turn

import (
	"fmt"
	"net/netip"
)

// defaultDeny are the peer ranges a TURN relay must not reach unless the
// operator opens them: relaying into them is how a TURN server becomes a way
// into the operator's own network (loopback services, the VPC, the cloud
// metadata endpoint).
var defaultDeny = []string{
	"0.0.0.0/8",      // "this network" and unspecified (RFC 1122)
	"10.0.0.0/8",     // private (RFC 1918)
	"100.64.0.0/10",  // carrier-grade NAT (RFC 6598); 100.100.100.200 is Alibaba's metadata
	"127.0.0.0/8",    // loopback
	"169.254.0.0/16", // link-local; 169.254.169.254 is AWS/GCP/Azure metadata
	"172.16.0.0/12",  // private (RFC 1918)
	"192.0.0.0/24",   // IETF protocol assignments
	"192.168.0.0/16", // private (RFC 1918)
	"198.18.0.0/15",  // benchmarking (RFC 2544)
	"224.0.0.0/4",    // multicast
	"240.0.0.0/4",    // reserved, and 255.255.255.255 broadcast
	"::/128",         // unspecified
	"::1/128",        // loopback
	"::ffff:0:0/96",  // IPv4-mapped: judged as IPv4 instead (see allowed)
	"64:ff9b::/96",   // NAT64 well-known prefix: may reach private IPv4
	"64:ff9b:1::/48", // local-use NAT64
	"fc00::/7",       // unique local (ULA); fd00:ec2::254 is AWS's IPv6 metadata
	"fe80::/10",      // link-local
	"ff00::/8",       // multicast
	"2001:db8::/32",  // documentation
	"2002::/16",      // 6to4: embeds arbitrary IPv4
}

// policy decides which peers an allocation may relay to. It is immutable
// after construction, so it is safe for concurrent use.
type policy struct {
	deny  []netip.Prefix
	allow []netip.Prefix
}

func newPolicy(deny, allow []string) (*policy, error) {
	d, err := parsePrefixes(append(append([]string{}, defaultDeny...), deny...))
	if err != nil {
		return nil, err
	}
	a, err := parsePrefixes(allow)
	if err != nil {
		return nil, err
	}
	return &policy{deny: d, allow: a}, nil
}

// allowed reports whether ip may be a relay peer. IPv4-mapped IPv6 addresses
// are judged as the IPv4 address they carry.
func (p *policy) allowed(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, pr := range p.allow {
		if pr.Contains(ip) {
			return true
		}
	}
	for _, pr := range p.deny {
		if pr.Contains(ip) {
			return false
		}
	}
	return true
}

func parsePrefixes(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an IP: %w", s, err)
			}
			pr = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, pr.Masked())
	}
	return out, nil
}
