package turn

import (
	"net"
	"strconv"
)

// URLs are the URLs of a TURN server with config cfg reached at host (an
// edge's public name or IP), for the ICE servers participants get (see
// internal/turncred): turn: over UDP and TCP on the main port, and turns:
// on the TLS port unless TLS is off.
func URLs(cfg Config, host string) []string {
	cfg = cfg.WithDefaults()
	h := host
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		h = "[" + host + "]"
	}
	urls := []string{
		"turn:" + h + ":" + port(cfg.Listen, 3478) + "?transport=udp",
		"turn:" + h + ":" + port(cfg.Listen, 3478) + "?transport=tcp",
	}
	if cfg.TLSListen != TLSOff {
		urls = append(urls, "turns:"+h+":"+port(cfg.TLSListen, 5349)+"?transport=tcp")
	}
	return urls
}

func port(addr string, def int) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil || p == "" || p == "0" {
		return strconv.Itoa(def)
	}
	return p
}
