package clientip

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrInvalidProxy marks a trusted-proxy entry that is not an address or a
// CIDR prefix.
var ErrInvalidProxy = errors.New("clientip: invalid trusted proxy")

// ErrInvalidHeader marks a forwarding header that is neither Forwarded nor
// X-Forwarded-For.
var ErrInvalidHeader = errors.New("clientip: invalid forwarding header")

// The forwarding headers a Resolver can read.
const (
	HeaderForwarded     = "Forwarded"       // RFC 7239
	HeaderXForwardedFor = "X-Forwarded-For" // the de facto one
)

// maxHops bounds the forwarding entries looked at per request.
const maxHops = 32

// Resolver picks the client address of requests. The zero value trusts
// no proxy: the peer address is the client. Safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
	header  string
}

// New builds a Resolver trusting the given proxies, each an address
// ("10.0.0.7", "::1") or a CIDR prefix ("10.0.0.0/8"), to report the
// client in header: Forwarded or X-Forwarded-For (any case; empty means
// X-Forwarded-For). Only that header is read: a deployment's proxies set
// one of them, and a client could send the other itself, through the
// proxy, with whatever address it likes.
func New(proxies []string, header string) (*Resolver, error) {
	r := &Resolver{}
	switch {
	case header == "" || strings.EqualFold(header, HeaderXForwardedFor):
		r.header = HeaderXForwardedFor
	case strings.EqualFold(header, HeaderForwarded):
		r.header = HeaderForwarded
	default:
		return nil, fmt.Errorf("%w: %q (want %s or %s)", ErrInvalidHeader, header, HeaderForwarded, HeaderXForwardedFor)
	}
	for _, s := range proxies {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%w: %q", ErrInvalidProxy, s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r, nil
}

// Trusts reports whether a is a trusted proxy.
func (r *Resolver) Trusts(a netip.Addr) bool {
	if r == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Header is the one forwarding header the Resolver reads (its canonical
// name); X-Forwarded-For for a nil Resolver.
func (r *Resolver) Header() string {
	if r == nil || r.header == "" {
		return HeaderXForwardedFor
	}
	return r.header
}

// Addr returns the client address of a request from peer carrying the
// given lines of the Resolver's header (in order of appearance; the
// caller passes the lines of Header only). The hops are read right to
// left, from the hop nearest this server: the first address that is not a
// trusted proxy is the client. An unreadable or obfuscated hop stops the
// walk at the last trusted proxy that reported it, so such a request is
// keyed to that proxy.
func (r *Resolver) Addr(peer netip.Addr, lines [][]byte) netip.Addr {
	peer = peer.Unmap()
	if !r.Trusts(peer) || len(lines) == 0 {
		return peer
	}
	var hops []netip.Addr
	if r.Header() == HeaderForwarded {
		hops = parseForwarded(lines)
	} else {
		hops = parseXFF(lines)
	}
	// hops holds the readable entries nearest this server; when every one
	// is a trusted proxy, the farthest of them is the best answer (it is
	// the last hop that was reported by someone trusted).
	cur := peer
	for i := len(hops) - 1; i >= 0; i-- {
		cur = hops[i]
		if !r.Trusts(cur) {
			return cur
		}
	}
	return cur
}

// parseXFF reads X-Forwarded-For lines: comma-separated addresses, left =
// farthest. An entry that cannot be read ends the list: only the entries
// to its right are returned.
func parseXFF(lines [][]byte) []netip.Addr {
	var all [][]byte
	for _, l := range lines {
		all = append(all, bytes.Split(l, []byte(","))...)
	}
	return readRightmost(all, func(b []byte) (netip.Addr, bool) { return parseNode(bytes.TrimSpace(b), false) })
}

// parseForwarded reads the for= parameters of Forwarded lines (RFC 7239
// section 4): elements separated by commas, pairs by semicolons, values
// tokens or quoted strings.
func parseForwarded(lines [][]byte) []netip.Addr {
	var elems [][]byte
	for _, l := range lines {
		elems = append(elems, splitOutsideQuotes(l, ',')...)
	}
	return readRightmost(elems, func(e []byte) (netip.Addr, bool) {
		for _, pair := range splitOutsideQuotes(e, ';') {
			k, v, found := bytes.Cut(bytes.TrimSpace(pair), []byte("="))
			if !found || !bytes.EqualFold(bytes.TrimSpace(k), []byte("for")) {
				continue
			}
			v = bytes.TrimSpace(v)
			quoted := len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"'
			if quoted {
				v = v[1 : len(v)-1]
			}
			if !quoted && bytes.IndexByte(v, ':') >= 0 {
				return netip.Addr{}, false // a token cannot hold ':' (RFC 7239 section 6)
			}
			return parseNode(v, true)
		}
		return netip.Addr{}, false // an element without for=
	})
}

// readRightmost parses entries from the right (the nearest hop first), at
// most maxHops of them, stopping at the first it cannot read; it returns
// them in the original left-to-right order.
func readRightmost(entries [][]byte, parse func([]byte) (netip.Addr, bool)) []netip.Addr {
	var rev []netip.Addr
	for i := len(entries) - 1; i >= 0 && len(rev) < maxHops; i-- {
		a, good := parse(entries[i])
		if !good {
			break
		}
		rev = append(rev, a)
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// parseNode reads an address with an optional port: 192.0.2.1,
// 192.0.2.1:80, [2001:db8::1], [2001:db8::1]:80, and (unquoted X-Forwarded-
// For only) a bare IPv6 address. Forwarded requires IPv6 in quotes and
// brackets.
func parseNode(b []byte, forwarded bool) (netip.Addr, bool) {
	s := string(b)
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		rest := s[end+1:]
		if rest != "" && (rest[0] != ':' || !isPort(rest[1:])) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		if a.Is6() && forwarded {
			return netip.Addr{}, false // RFC 7239: IPv6 in brackets
		}
		return a.Unmap(), true
	}
	host, port, found := strings.Cut(s, ":")
	if !found || !isPort(port) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// splitOutsideQuotes splits b at sep where sep is not inside a quoted
// string (backslash escapes honoured).
func splitOutsideQuotes(b []byte, sep byte) [][]byte {
	var out [][]byte
	start, inQuote, esc := 0, false, false
	for i, c := range b {
		switch {
		case esc:
			esc = false
		case inQuote && c == '\\':
			esc = true
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			out = append(out, b[start:i])
			start = i + 1
		}
	}
	return append(out, b[start:])
}
