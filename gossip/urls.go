package gossip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// ErrURLNotAllowed marks a member whose advertised URLs are outside the
// configured allowlist (Config.URLAllowlist): it is kept out of placement
// and moderation as if its metadata could not be read, so a member that
// holds the gossip key cannot send clients, or the control plane's
// RoomService calls, wherever it likes.
var ErrURLNotAllowed = errors.New("gossip: advertised URL outside the allowlist")

// urlPolicy says which hosts a member may advertise in its signalling,
// probe and TURN URLs and its relay address. Immutable; an empty one allows every host.
type urlPolicy struct {
	hosts    []string // exact host names, lower case
	suffixes []string // ".example.com" from "*.example.com"
	prefixes []netip.Prefix
}

// newURLPolicy parses allowlist entries: a host name, "*.domain" (any
// name under it), an IP address or a CIDR prefix.
func newURLPolicy(entries []string) (*urlPolicy, error) {
	p := &urlPolicy{}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "" || e == "*":
			return nil, fmt.Errorf("%q: name hosts, domains (*.example.com) or address ranges", e)
		case strings.HasPrefix(e, "*."):
			p.suffixes = append(p.suffixes, e[1:])
		case strings.Contains(e, "/"):
			pr, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", e, err)
			}
			p.prefixes = append(p.prefixes, pr.Masked())
		default:
			if a, err := netip.ParseAddr(e); err == nil {
				p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			if strings.ContainsAny(e, ":*/@ ") {
				return nil, fmt.Errorf("%q is not a host name", e)
			}
			p.hosts = append(p.hosts, e)
		}
	}
	return p, nil
}

func (p *urlPolicy) empty() bool {
	return len(p.hosts)+len(p.suffixes)+len(p.prefixes) == 0
}

func (p *urlPolicy) host(h string) bool {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if a, err := netip.ParseAddr(h); err == nil {
		for _, pr := range p.prefixes {
			if pr.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	for _, x := range p.hosts {
		if h == x {
			return true
		}
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(h, s) && len(h) > len(s) {
			return true
		}
	}
	return false
}

// check reports why m's URLs are not allowed (nil: they are).
func (p *urlPolicy) check(m Meta) error {
	if p.empty() {
		return nil
	}
	if m.SignalURL != "" {
		if err := p.url(m.SignalURL, "ws", "wss", "http", "https"); err != nil {
			return fmt.Errorf("%w: signalling URL: %w", ErrURLNotAllowed, err)
		}
	}
	if m.ProbeURL != "" {
		if err := p.url(m.ProbeURL, "http", "https"); err != nil {
			return fmt.Errorf("%w: probe URL: %w", ErrURLNotAllowed, err)
		}
	}
	for _, u := range m.TURNURLs {
		if err := p.ice(u); err != nil {
			return fmt.Errorf("%w: TURN URL: %w", ErrURLNotAllowed, err)
		}
	}
	if m.RelayAddr != "" {
		if host, _, err := net.SplitHostPort(m.RelayAddr); err != nil || !p.host(host) {
			return fmt.Errorf("%w: relay address %q", ErrURLNotAllowed, m.RelayAddr)
		}
	}
	return nil
}

func (p *urlPolicy) url(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok || u.User != nil || !p.host(u.Hostname()) {
		return fmt.Errorf("%q", raw)
	}
	return nil
}

// ice checks a turn:, turns: or stun: URI (RFC 7064/7065: scheme:host[:port][?transport=...]).
func (p *urlPolicy) ice(raw string) error {
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok || (scheme != "turn" && scheme != "turns" && scheme != "stun" && scheme != "stuns") {
		return fmt.Errorf("%q", raw)
	}
	rest, _, _ = strings.Cut(rest, "?")
	host := rest
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return fmt.Errorf("%q", raw)
		}
		host = rest[1:end]
	} else if h, _, found := strings.Cut(rest, ":"); found {
		host = h
	}
	if !p.host(host) {
		return fmt.Errorf("%q", raw)
	}
	return nil
}
