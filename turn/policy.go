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
	"0.0.0.0/8",       // "this network" and unspecified (RFC 1122)
	"10.0.0.0/8",      // private (RFC 1918)
	"100.64.0.0/10",   // carrier-grade NAT (RFC 6598); 100.100.100.200 is Alibaba's metadata
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local; 169.254.169.254 is AWS/GCP/Azure metadata
	"172.16.0.0/12",   // private (RFC 1918)
	"192.0.0.0/24",    // IETF protocol assignments
	"192.168.0.0/16",  // private (RFC 1918)
	"198.18.0.0/15",   // benchmarking (RFC 2544)
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and 255.255.255.255 broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"::ffff:0:0/96",   // IPv4-mapped: judged as IPv4 instead (see allowed)
	"64:ff9b::/96",    // NAT64 well-known prefix: may reach private IPv4
	"64:ff9b:1::/48",  // local-use NAT64
	"fc00::/7",        // unique local (ULA); fd00:ec2::254 is AWS's IPv6 metadata
	"fe80::/10",       // link-local
	"ff00::/8",        // multicast
	"2001:db8::/32",   // documentation
	"2002::/16",       // 6to4: embeds arbitrary IPv4
	"::/96",           // IPv4-compatible (deprecated): embeds arbitrary IPv4
	"::ffff:0:0:0/96", // IPv4-translated (RFC 2765)
	"100::/64",        // discard-only (RFC 6666)
	"2001::/32",       // Teredo: embeds arbitrary IPv4
	"2001:2::/48",     // benchmarking (RFC 5180)
	"2001:10::/28",    // ORCHID
	"2001:20::/28",    // ORCHIDv2
	"3fff::/20",       // documentation (RFC 9637)
	"5f00::/16",       // SRv6 SIDs
	"fec0::/10",       // site-local (deprecated)
	"192.0.2.0/24",    // documentation (TEST-NET-1)
	"198.51.100.0/24", // documentation (TEST-NET-2)
	"203.0.113.0/24",  // documentation (TEST-NET-3)
	"192.88.99.0/24",  // 6to4 relay anycast
}

// policy decides which peers an allocation may relay to. It is immutable
// after construction, so it is safe for concurrent use.
type policy struct {
	deny  []netip.Prefix
	allow []netip.Prefix
	own   map[netip.Addr]struct{} // the TURN host's own addresses
}

// newPolicy builds the policy; own are the host's addresses (its
// interfaces, the relay's advertised and bound addresses, the node's
// public addresses), refused unless an allow entry names them.
func newPolicy(deny, allow []string, own ...netip.Addr) (*policy, error) {
	d, err := parsePrefixes(append(append([]string{}, defaultDeny...), deny...))
	if err != nil {
		return nil, err
	}
	a, err := parsePrefixes(allow)
	if err != nil {
		return nil, err
	}
	p := &policy{deny: d, allow: a, own: map[netip.Addr]struct{}{}}
	for _, ip := range own {
		if ip.IsValid() && !ip.IsUnspecified() {
			p.own[ip.Unmap().WithZone("")] = struct{}{}
		}
	}
	return p, nil
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
	if _, mine := p.own[ip]; mine {
		return false
	}
	for _, pr := range p.deny {
		if pr.Contains(ip) {
			return false
		}
	}
	return true
}

// peers are the media addresses of the fleet's edges (from gossip): the
// only endpoints a relay reaches on a denied or own address, port exact.
type peers struct {
	addrs map[netip.AddrPort]struct{}
	ips   map[netip.Addr]struct{}
}

func newPeers(list []netip.AddrPort) *peers {
	p := &peers{addrs: make(map[netip.AddrPort]struct{}, len(list)), ips: make(map[netip.Addr]struct{}, len(list))}
	for _, a := range list {
		a = netip.AddrPortFrom(a.Addr().Unmap().WithZone(""), a.Port())
		p.addrs[a] = struct{}{}
		p.ips[a.Addr()] = struct{}{}
	}
	return p
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
