package turn

import (
	"net"
	"strconv"
	"time"
)

// ICEServer is one entry of a join answer's ICE servers (the shape of
// WebRTC's RTCIceServer and LiveKit's ICEServer).
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEServers returns the ICE servers a participant of identity gets with a
// join: turn: over UDP and TCP on the main port and turns: on the TLS port,
// all with one credential signed by secret (the primary TURN secret) and
// valid for cfg.CredentialTTL. host is the edge's public name or IP.
func ICEServers(cfg Config, host, secret, identity string, now time.Time) []ICEServer {
	cfg = cfg.WithDefaults()
	user, pass := Credential(secret, identity, now.Add(cfg.CredentialTTL))
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
	return []ICEServer{{URLs: urls, Username: user, Credential: pass}}
}

func port(addr string, def int) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil || p == "" || p == "0" {
		return strconv.Itoa(def)
	}
	return p
}
