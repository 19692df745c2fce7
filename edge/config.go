package edge

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// ErrInvalidConfig marks an unusable `edge:` section.
var ErrInvalidConfig = errors.New("edge: invalid config")

// Config is the `edge:` section of a config file.
type Config struct {
	// Listen is the signalling HTTP address (WebSocket /rtc, /rtc/validate,
	// Twirp RoomService). Used by `spacecast edge`; an embedding caller may
	// mount Handler on its own listener instead.
	Listen string `yaml:"listen"`
	// PublicURL is the signalling URL clients are given (ws:// or wss://).
	PublicURL string `yaml:"publicURL"`
	// NodeID names this edge in logs, ServerInfo and gossip.
	NodeID string `yaml:"nodeID"`
	// Region is the region this edge serves.
	Region string `yaml:"region"`
	// RTC is the media transport.
	RTC RTCConfig `yaml:"rtc"`
	// Room holds room limits and timeouts.
	Room RoomConfig `yaml:"room"`
	// TURNURLs are handed to clients in JoinResponse.ice_servers with TURN
	// REST credentials derived from the cluster's first TURN secret
	// (e.g. "turn:turn.example.com:3478?transport=udp").
	TURNURLs []string `yaml:"turnURLs"`
	// TURNCredentialTTL is how long those credentials stay valid.
	TURNCredentialTTL time.Duration `yaml:"turnCredentialTTL"`
	// HTTP bounds the signalling server's HTTP surface.
	HTTP HTTPConfig `yaml:"http"`
	// MaxSignalMessageBytes caps one signalling message.
	MaxSignalMessageBytes int `yaml:"maxSignalMessageBytes"`
	// Capacity is the most participants this edge takes over all its rooms
	// (0 = unlimited). Gossip advertises it, placement skips a full edge,
	// and a join beyond it gets 503.
	Capacity int `yaml:"capacity"`
	// DrainTimeout is how long `spacecast edge` waits, after SIGTERM, for
	// its participants to leave before it disconnects the rest and exits.
	DrainTimeout time.Duration `yaml:"drainTimeout"`
}

// RTCConfig is the `edge.rtc:` section.
type RTCConfig struct {
	// UDPPort is the single UDP port all ICE traffic goes through (pion's
	// ICE UDP mux). 0 picks a free port (tests).
	UDPPort int `yaml:"udpPort"`
	// TCPPort is the optional ICE-TCP port (0 disables it).
	TCPPort int `yaml:"tcpPort"`
	// BindIP is the address the UDP/TCP sockets bind to ("" = all).
	BindIP string `yaml:"bindIP"`
	// NodeIPs are advertised as host candidates instead of the interface
	// addresses (1:1 NAT, e.g. a cloud VM's public address).
	NodeIPs []string `yaml:"nodeIPs"`
	// Interfaces, when set, limits candidate gathering to these interfaces.
	Interfaces []string `yaml:"interfaces"`
	// SubscriberQueue is the number of packets that may wait for one
	// subscriber before new ones are dropped (and counted): a slow
	// subscriber loses packets instead of slowing the room.
	SubscriberQueue int `yaml:"subscriberQueue"`
	// CongestionControl is how subscribers' bandwidth is estimated:
	// "twcc" (the default) offers transport-cc and the edge estimates
	// each subscriber's bandwidth from its feedback, probing for
	// headroom; "remb" offers REMB alone and follows what the clients'
	// receivers estimate.
	CongestionControl string `yaml:"congestionControl"`
}

// HTTPConfig is the `edge.http:` section: what one client may hold of the
// signalling server.
type HTTPConfig struct {
	// ReadTimeout bounds reading a request, headers and body, on every
	// route but the /rtc WebSocket (whose frames have their own deadline).
	ReadTimeout time.Duration `yaml:"readTimeout"`
	// WriteTimeout bounds writing the answer on those routes.
	WriteTimeout time.Duration `yaml:"writeTimeout"`
	// IdleTimeout closes a keep-alive connection idle this long.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// MaxHeaderBytes caps the request line and headers (the access token
	// travels in the query): beyond it, 431.
	MaxHeaderBytes int `yaml:"maxHeaderBytes"`
	// MaxBodyBytes caps a RoomService request body: beyond it, 413.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
}

// RoomConfig is the `edge.room:` section.
type RoomConfig struct {
	// MaxParticipants per room unless the media token's room configuration
	// sets the room's own (roomConfig.maxParticipants, which the control
	// plane derives from the room's maxParticipants); 0 = no limit.
	MaxParticipants int `yaml:"maxParticipants"`
	// EmptyTimeout closes a room that has had nobody in it this long.
	EmptyTimeout time.Duration `yaml:"emptyTimeout"`
	// DepartureTimeout keeps a participant whose signalling dropped this long,
	// so it can resume with the same sid.
	DepartureTimeout time.Duration `yaml:"departureTimeout"`
	// RemovalTTL is how long a moderator's removal made on this edge
	// (RoomService) bars the removed identity's older credentials across
	// the cluster: at least the control plane's sessionTTL.
	RemovalTTL time.Duration `yaml:"removalTTL"`
}

// DefaultConfig is the configuration a file's values are applied over.
func DefaultConfig() Config {
	return Config{
		Listen:    "127.0.0.1:7880",
		PublicURL: "ws://127.0.0.1:7880",
		NodeID:    "edge-1",
		Region:    "local",
		RTC: RTCConfig{
			UDPPort:           7882,
			SubscriberQueue:   128,
			CongestionControl: "twcc",
		},
		Room: RoomConfig{
			MaxParticipants:  1000,
			EmptyTimeout:     5 * time.Minute,
			DepartureTimeout: 20 * time.Second,
			RemovalTTL:       4 * time.Hour,
		},
		HTTP: HTTPConfig{
			ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute,
			MaxHeaderBytes: 32 << 10, MaxBodyBytes: 1 << 20,
		},
		TURNCredentialTTL:     24 * time.Hour,
		MaxSignalMessageBytes: 256 << 10,
		DrainTimeout:          15 * time.Minute,
	}
}

// Validate checks the section.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			bad("listen %q: %v", c.Listen, err)
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("publicURL %q: want ws://host[:port] or wss://host[:port]", c.PublicURL)
	}
	if c.NodeID == "" {
		bad("nodeID is required")
	}
	if c.RTC.UDPPort < 0 || c.RTC.UDPPort > 65535 {
		bad("rtc.udpPort %d out of range", c.RTC.UDPPort)
	}
	if c.RTC.TCPPort < 0 || c.RTC.TCPPort > 65535 {
		bad("rtc.tcpPort %d out of range", c.RTC.TCPPort)
	}
	if c.Capacity < 0 {
		bad("capacity %d is negative", c.Capacity)
	}
	if c.DrainTimeout < 0 {
		bad("drainTimeout %s is negative", c.DrainTimeout)
	}
	if c.RTC.SubscriberQueue < 16 || c.RTC.SubscriberQueue > 4096 {
		bad("rtc.subscriberQueue %d not in [16, 4096]", c.RTC.SubscriberQueue)
	}
	if cc := c.RTC.CongestionControl; cc != "" && cc != "twcc" && cc != "remb" {
		bad("rtc.congestionControl %q: want twcc or remb", cc)
	}
	if c.RTC.BindIP != "" && net.ParseIP(c.RTC.BindIP) == nil {
		bad("rtc.bindIP %q is not an IP address", c.RTC.BindIP)
	}
	for _, ip := range c.RTC.NodeIPs {
		if net.ParseIP(ip) == nil {
			bad("rtc.nodeIPs: %q is not an IP address", ip)
		}
	}
	if c.Room.MaxParticipants < 0 {
		bad("room.maxParticipants must be >= 0")
	}
	if c.Room.EmptyTimeout <= 0 {
		bad("room.emptyTimeout must be > 0")
	}
	if c.Room.DepartureTimeout <= 0 {
		bad("room.departureTimeout must be > 0")
	}
	if c.Room.RemovalTTL <= 0 {
		bad("room.removalTTL must be > 0")
	}
	for _, u := range c.TURNURLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") && !strings.HasPrefix(u, "stun:") {
			bad("turnURLs: %q must start with turn:, turns: or stun:", u)
		}
	}
	if len(c.TURNURLs) > 0 && c.TURNCredentialTTL <= 0 {
		bad("turnCredentialTTL must be > 0")
	}
	if c.HTTP.ReadTimeout <= 0 || c.HTTP.WriteTimeout <= 0 || c.HTTP.IdleTimeout <= 0 {
		bad("http.readTimeout, http.writeTimeout and http.idleTimeout must be > 0")
	}
	if c.HTTP.MaxHeaderBytes < 4096 {
		bad("http.maxHeaderBytes must be at least 4096")
	}
	if c.HTTP.MaxBodyBytes < 4096 {
		bad("http.maxBodyBytes must be at least 4096")
	}
	if c.MaxSignalMessageBytes < 4096 {
		bad("maxSignalMessageBytes must be at least 4096")
	}
	return errors.Join(errs...)
}
