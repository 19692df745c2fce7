package clientip

import (
	"errors"
	"net/netip"
	"testing"
)

func lines(s ...string) [][]byte {
	var out [][]byte
	for _, l := range s {
		out = append(out, []byte(l))
	}
	return out
}

func TestAddr(t *testing.T) {
	trusted := []string{"10.0.0.0/8", "::1", "2001:db8:ff::/48"}
	fr, err := New(trusted, "forwarded")
	if err != nil {
		t.Fatal(err)
	}
	xr, err := New(trusted, "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		peer      string
		forwarded []string
		xff       []string
		want      string
	}{
		{"untrusted peer: headers ignored", "203.0.113.9", nil, []string{"198.51.100.1"}, "203.0.113.9"},
		{"untrusted peer: Forwarded ignored", "203.0.113.9", []string{"for=198.51.100.1"}, nil, "203.0.113.9"},
		{"trusted peer, no header", "10.1.2.3", nil, nil, "10.1.2.3"},
		{"trusted peer, one hop", "10.1.2.3", nil, []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed leftmost is skipped", "10.1.2.3", nil, []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3", nil, []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", "10.1.2.3", nil, []string{"1.2.3.4", "198.51.100.1,10.0.0.5"}, "198.51.100.1"},
		{"all trusted: the farthest", "10.1.2.3", nil, []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"garbage nearest: the proxy", "10.1.2.3", nil, []string{"198.51.100.1, nonsense"}, "10.1.2.3"},
		{"garbage farther: stops at the trusted hop", "10.1.2.3", nil, []string{"nonsense, 10.0.0.8"}, "10.0.0.8"},
		{"ipv4 with port", "10.1.2.3", nil, []string{"198.51.100.1:5555"}, "198.51.100.1"},
		{"bare ipv6 in XFF", "::1", nil, []string{"2001:db8::7"}, "2001:db8::7"},
		{"bracketed ipv6 with port in XFF", "::1", nil, []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"mapped ipv4 peer", "::ffff:10.1.2.3", nil, []string{"198.51.100.1"}, "198.51.100.1"},
		{"trusted ipv6 prefix", "2001:db8:ff::1", nil, []string{"198.51.100.1"}, "198.51.100.1"},
		{"Forwarded", "10.1.2.3", []string{"for=198.51.100.1;proto=https"}, nil, "198.51.100.1"},
		{"Forwarded quoted ipv6", "10.1.2.3", []string{`for="[2001:db8:cafe::17]:4711"`}, nil, "2001:db8:cafe::17"},
		{"Forwarded case and spaces", "10.1.2.3", []string{`For = 198.51.100.1 ; by=10.0.0.1`}, nil, "198.51.100.1"},
		{"Forwarded chain", "10.1.2.3", []string{"for=1.2.3.4, for=198.51.100.1, for=10.0.0.3"}, nil, "198.51.100.1"},
		{"Forwarded obfuscated", "10.1.2.3", []string{"for=_hidden, for=10.0.0.3"}, nil, "10.0.0.3"},
		{"Forwarded unknown", "10.1.2.3", []string{"for=unknown"}, nil, "10.1.2.3"},
		{"Forwarded comma in quotes", "10.1.2.3", []string{`for=198.51.100.1;x="a,b"`}, nil, "198.51.100.1"},
		{"Forwarded unquoted ipv6 refused", "10.1.2.3", []string{"for=2001:db8::1"}, nil, "10.1.2.3"},
		{"Forwarded without for", "10.1.2.3", []string{"proto=https"}, nil, "10.1.2.3"},
		{"zone refused", "10.1.2.3", nil, []string{"fe80::1%eth0"}, "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ls := xr, tt.xff
			if tt.forwarded != nil {
				r, ls = fr, tt.forwarded
			}
			got := r.Addr(netip.MustParseAddr(tt.peer), lines(ls...))
			if got != netip.MustParseAddr(tt.want) {
				t.Fatalf("Addr = %v, want %s", got, tt.want)
			}
		})
	}
	var none *Resolver
	if got := none.Addr(netip.MustParseAddr("10.1.2.3"), lines("1.2.3.4")); got.String() != "10.1.2.3" {
		t.Fatalf("nil resolver trusted a header: %v", got)
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []string
		ok   bool
	}{
		{"empty", nil, true},
		{"addresses and prefixes", []string{"10.0.0.1", "192.168.0.0/16", "::1", "fd00::/8", " 172.16.0.0/12 "}, true},
		{"hostname", []string{"proxy.local"}, false},
		{"bad prefix", []string{"10.0.0.0/33"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.in, "")
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidProxy)) {
				t.Fatalf("New(%v) = %v", tt.in, err)
			}
		})
	}
	r, _ := New([]string{"::ffff:10.0.0.0/104"}, "")
	if !r.Trusts(netip.MustParseAddr("10.2.3.4")) {
		t.Fatal("a mapped prefix does not cover its IPv4 addresses")
	}
	for _, h := range []string{"Forwarded", "x-forwarded-for", "X-FORWARDED-FOR", ""} {
		if _, err := New(nil, h); err != nil {
			t.Errorf("New(header %q) = %v", h, err)
		}
	}
	for _, h := range []string{"X-Real-IP", "True-Client-IP", "Forwarded, X-Forwarded-For"} {
		if _, err := New(nil, h); !errors.Is(err, ErrInvalidHeader) {
			t.Errorf("New(header %q) = %v, want ErrInvalidHeader", h, err)
		}
	}
}

// FuzzAddr: any header content gives a valid address that is the peer,
// or one the headers named; never a panic.
func FuzzAddr(f *testing.F) {
	for _, s := range []string{"for=198.51.100.1", `for="[2001:db8::1]:80";proto=https, for=10.0.0.1`, "1.2.3.4, 10.0.0.1", `for="a\"b,c"`, "[::1", "for=", ",,,"} {
		f.Add(s, s)
	}
	fr, _ := New([]string{"10.0.0.0/8", "2001:db8::/32"}, HeaderForwarded)
	xr, _ := New([]string{"10.0.0.0/8", "2001:db8::/32"}, HeaderXForwardedFor)
	peer := netip.MustParseAddr("10.0.0.9")
	f.Fuzz(func(t *testing.T, fwd, xff string) {
		for _, h := range []struct {
			r *Resolver
			v string
		}{{fr, fwd}, {xr, xff}} {
			got := h.r.Addr(peer, lines(h.v))
			if !got.IsValid() || got.Zone() != "" || got.Is4In6() {
				t.Fatalf("Addr = %v", got)
			}
		}
	})
}
