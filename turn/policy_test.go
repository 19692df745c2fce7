package turn

import (
	"errors"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	tests := []struct {
		name  string
		allow []string
		deny  []string
		ip    string
		want  bool
	}{
		{"public v4", nil, nil, "8.8.8.8", true},
		{"public v6", nil, nil, "2606:4700::1111", true},
		{"loopback", nil, nil, "127.0.0.1", false},
		{"loopback v6", nil, nil, "::1", false},
		{"rfc1918 10/8", nil, nil, "10.0.0.1", false},
		{"rfc1918 172.16/12", nil, nil, "172.31.255.1", false},
		{"rfc1918 192.168/16", nil, nil, "192.168.1.1", false},
		{"cgnat", nil, nil, "100.64.0.1", false},
		{"aws metadata", nil, nil, "169.254.169.254", false},
		{"aws metadata v6", nil, nil, "fd00:ec2::254", false},
		{"alibaba metadata", nil, nil, "100.100.100.200", false},
		{"ula", nil, nil, "fc00::1", false},
		{"link-local v6", nil, nil, "fe80::1", false},
		{"multicast", nil, nil, "239.1.1.1", false},
		{"multicast v6", nil, nil, "ff02::1", false},
		{"unspecified", nil, nil, "0.0.0.0", false},
		{"this network", nil, nil, "0.1.2.3", false},
		{"broadcast", nil, nil, "255.255.255.255", false},
		{"v4-mapped loopback", nil, nil, "::ffff:127.0.0.1", false},
		{"v4-mapped public", nil, nil, "::ffff:8.8.8.8", true},
		{"nat64 of private", nil, nil, "64:ff9b::a00:1", false},
		{"ipv4-compatible ::/96", nil, nil, "::808:808", false},
		{"teredo", nil, nil, "2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
		{"documentation v4", nil, nil, "203.0.113.9", false},
		{"documentation v6 (RFC 9637)", nil, nil, "3fff::1", false},
		{"6to4 relay anycast", nil, nil, "192.88.99.1", false},
		{"own address", nil, nil, "9.9.9.9", false},
		{"own address allowed explicitly", []string{"9.9.9.9"}, nil, "9.9.9.9", true},
		{"allow opens loopback", []string{"127.0.0.0/8"}, nil, "127.0.0.1", true},
		{"allow opens v4-mapped loopback", []string{"127.0.0.0/8"}, nil, "::ffff:127.0.0.1", true},
		{"allow leaves others closed", []string{"127.0.0.0/8"}, nil, "10.0.0.1", false},
		{"extra deny", nil, []string{"8.8.8.0/24"}, "8.8.8.8", false},
		{"single IP deny", nil, []string{"1.1.1.1"}, "1.1.1.1", false},
		{"invalid", nil, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newPolicy(tt.deny, tt.allow, netip.MustParseAddr("9.9.9.9"))
			if err != nil {
				t.Fatal(err)
			}
			ip, _ := netip.ParseAddr(tt.ip)
			if got := p.allowed(ip); got != tt.want {
				t.Fatalf("allowed(%s) = %v, want %v", tt.ip, got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	def := Config{RelayIP: "203.0.113.1"}.WithDefaults()
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if def.Listen != ":3478" || def.TLSListen != ":5349" || def.UDPSockets != runtime.GOMAXPROCS(0) ||
		def.RelayPortMin != 49152 || def.RelayPortMax != 65535 || def.UserQuota < 1 {
		t.Fatalf("defaults: %+v", def)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"bad listen", func(c *Config) { c.Listen = "nope" }},
		{"bad tls listen", func(c *Config) { c.TLSListen = "nope" }},
		{"cert without key", func(c *Config) { c.CertFile = "a.pem" }},
		{"too many sockets", func(c *Config) { c.UDPSockets = 1000 }},
		{"bad relay ip", func(c *Config) { c.RelayIP = "x" }},
		{"bad relay bind", func(c *Config) { c.RelayBind = "x" }},
		{"no relay ip with unspecified bind", func(c *Config) { c.RelayIP = "" }},
		{"port range upside down", func(c *Config) { c.RelayPortMin, c.RelayPortMax = 60000, 50000 }},
		{"negative quota", func(c *Config) { c.UserQuota = -1 }},
		{"negative bandwidth", func(c *Config) { c.BandwidthBytes = -2 }},
		{"no allocations", func(c *Config) { c.MaxAllocations = -1 }},
		{"tiny lifetime", func(c *Config) { c.MaxLifetime = time.Millisecond }},
		{"tiny ttl", func(c *Config) { c.CredentialTTL = time.Second }},
		{"bad deny", func(c *Config) { c.Deny = []string{"10.0.0.0/33"} }},
		{"bad allow", func(c *Config) { c.Allow = []string{"nope"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{RelayIP: "203.0.113.1"}.WithDefaults()
			tt.mutate(&c)
			if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	got := URLs(Config{Listen: ":3478", TLSListen: ":443"}, "turn.example.com")
	want := []string{
		"turn:turn.example.com:3478?transport=udp",
		"turn:turn.example.com:3478?transport=tcp",
		"turns:turn.example.com:443?transport=tcp",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("URLs = %v", got)
	}
	v6 := URLs(Config{TLSListen: TLSOff}, "2001:db8::1")
	if len(v6) != 2 || v6[0] != "turn:[2001:db8::1]:3478?transport=udp" {
		t.Fatalf("v6 URLs = %v", v6)
	}
}
