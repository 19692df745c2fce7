package roomsbench

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/spacecast/spacecast/bench/loopbridge"
	"github.com/spacecast/spacecast/bench/scenario"
)

// Config is the rooms scenario's settings (and its scenario-file format).
type Config struct {
	scenario.Common `yaml:",inline"`
	// Rooms, Participants per room, and how many of them publish.
	Rooms        int `yaml:"rooms" json:"rooms"`
	Participants int `yaml:"participants" json:"participants"`
	Publishers   int `yaml:"publishers" json:"publishers"`
	// Agents is the number of agent processes the participants spread over.
	Agents int `yaml:"agents" json:"agents"`
	// Duration is how long every participant stays after the first join.
	Duration time.Duration `yaml:"duration" json:"duration"`
	// Spread is the time between two joins (0 with Storm).
	Spread time.Duration `yaml:"spread" json:"spread"`
	// Storm makes every participant join within StormWindow.
	Storm       bool          `yaml:"storm" json:"storm"`
	StormWindow time.Duration `yaml:"stormWindow" json:"stormWindow"`
	// Simulcast publishes three VP8 layers per camera.
	Simulcast bool `yaml:"simulcast" json:"simulcast"`
	// MetricsURLs are the servers' Prometheus endpoints (control plane,
	// edges), read for their CPU and memory in a run against --target.
	MetricsURLs []string `yaml:"metricsURLs" json:"metricsURLs,omitempty"`
	// Cut takes one agent's network down for a while (fault injection).
	Cut *Cut `yaml:"cut" json:"cut,omitempty"`
	// VideoKbps is the single-layer camera's bitrate (without Simulcast).
	VideoKbps int `yaml:"videoKbps" json:"videoKbps"`
	// Record records every room (its recording started through the REST
	// API once everyone joined, ended by the call's end): the result says
	// what it wrote, per recorded track, and the server's CPU is to be
	// compared with a run without (bench compare).
	Record bool `yaml:"record" json:"record,omitempty"`
	// RecordDir is the edge's recording folder on this machine (spacecast
	// dev's DATA/recording), whose growth the bench measures when it does
	// not start the edge itself.
	RecordDir string `yaml:"recordDir" json:"recordDir,omitempty"`

	// LiveKitURL, when set, runs the participants directly against any
	// LiveKit-protocol server (livekit-server, a spacecast edge) with
	// tokens minted from APIKey/APISecret instead of the REST join. Its
	// host must be an address in 198.18.0.0/15 of this machine: the
	// agents reach it from their namespaces.
	LiveKitURL string `yaml:"livekitURL" json:"livekitURL,omitempty"`
	// ServerPID is that server's process, read from /proc for its CPU and
	// memory (0: the process listening on the URL's port). Also for a
	// Target on this machine's loopback.
	ServerPID int `yaml:"serverPID" json:"serverPID,omitempty"`

	// LoopbackPorts are forwarded into the agents' namespaces by the
	// loopback bridge, besides the API's port, when Target is on this
	// machine's loopback ("tcp:7880,udp:7882", see package loopbridge;
	// empty: DefaultLoopbackPorts, those of `spacecast dev`).
	LoopbackPorts string `yaml:"loopbackPorts" json:"loopbackPorts,omitempty"`
	// Regions, when set, make a multi-region run: every room has each
	// region's publishers and subscribers, who join with the region as
	// their hint (one agent per region). Self-contained, the run starts a
	// control plane and each region's edges in network namespaces, with
	// Link (or the pair's entry of Links) between every two regions;
	// against --target, the fleet's own regions and links. Participants,
	// Publishers and Agents then follow from the regions.
	Regions []Region   `yaml:"regions" json:"regions,omitempty"`
	Link    Link       `yaml:"link" json:"link,omitempty"`
	Links   []PairLink `yaml:"links" json:"links,omitempty"`
	// APIKey and APISecret sign the tokens; they come from the environment.
	APIKey    string `yaml:"-" json:"-"`
	APISecret string `yaml:"-" json:"-"`

	// ClientSecret comes from the environment.
	ClientSecret string `yaml:"-" json:"-"`
	// Exe is the spacecast binary the agents run (`bench rooms --agent`).
	Exe string `yaml:"-" json:"-"`
	// AgentStderr, when set, receives the agents' stderr (debugging).
	AgentStderr io.Writer `yaml:"-" json:"-"`
	// AgentEnv is added to the agents' environment.
	AgentEnv      []string `yaml:"-" json:"-"`
	SelfContained bool     `yaml:"-" json:"selfContained"`
}

// DefaultLoopbackPorts are `spacecast dev`'s edge signalling, edge ICE
// UDP, TURN UDP and TCP, and TURN TLS ports.
const DefaultLoopbackPorts = "tcp:7880,udp:7882,udp:3478,tcp:3478,tcp:5349"

// Cut is a fault: agent Agent (0-based) loses its link At after the first
// join, for For.
type Cut struct {
	Agent int           `yaml:"agent" json:"agent"`
	At    time.Duration `yaml:"at" json:"at"`
	For   time.Duration `yaml:"for" json:"for"`
}

// DefaultConfig returns the defaults: two rooms of four, two publishing.
func DefaultConfig() Config {
	return Config{
		Common:       scenario.Common{Scenario: "rooms"},
		Rooms:        2,
		Participants: 4,
		Publishers:   2,
		Agents:       2,
		Duration:     10 * time.Second,
		Spread:       50 * time.Millisecond,
		StormWindow:  2 * time.Second,
		Simulcast:    true,
		VideoKbps:    600,
	}
}

// Validate checks the settings.
func (c Config) Validate() error {
	var errs []error
	bad := func(f string, a ...any) { errs = append(errs, fmt.Errorf(f, a...)) }
	if c.Rooms < 1 || c.Rooms > 10_000 {
		bad("rooms: 1 to 10000")
	}
	if c.Participants < 1 || c.Participants > 1000 {
		bad("participants: 1 to 1000 per room")
	}
	if c.Publishers < 0 || c.Publishers > c.Participants {
		bad("publishers: 0 to participants")
	}
	if c.Agents < 1 || c.Agents > 200 {
		bad("agents: 1 to 200")
	}
	if c.Duration <= 0 {
		bad("duration: must be positive")
	}
	if c.Spread < 0 || c.StormWindow < 0 {
		bad("spread and stormWindow: must not be negative")
	}
	if c.Cut != nil && (c.Cut.Agent < 0 || c.Cut.Agent >= c.Agents || c.Cut.At < 0 || c.Cut.For <= 0 || c.Cut.At+c.Cut.For >= c.Duration) {
		bad("cut: agent in [0, agents), at >= 0, for > 0, and at+for within the duration")
	}
	if c.Target != "" && (c.ClientID == "" || c.ClientSecret == "") {
		bad("a run against --target needs --client-id and SPACECAST_BENCH_CLIENT_SECRET")
	}
	bridged := false
	if c.Target != "" {
		_, lb, err := loopbackTarget(c.Target)
		if err != nil {
			errs = append(errs, err)
		}
		bridged = lb
		if _, err := loopbridge.ParsePorts(c.LoopbackPorts); err != nil {
			bad("loopbackPorts: %w", err)
		}
	}
	if c.Target != "" && !bridged && c.Cut != nil {
		bad("cut: only with agents in namespaces (a self-contained run, or a target on this machine's loopback)")
	}
	if c.VideoKbps < 0 || c.VideoKbps > 20_000 {
		bad("videoKbps: 0 to 20000")
	}
	if c.LiveKitURL != "" {
		if c.Target != "" {
			bad("livekitURL and target: one or the other")
		}
		if _, err := serverAddr(c.LiveKitURL); err != nil {
			errs = append(errs, err)
		}
		if c.APIKey == "" || c.APISecret == "" {
			bad("a run against --livekit-url needs SPACECAST_BENCH_LK_KEY and SPACECAST_BENCH_LK_SECRET")
		}
	}
	if c.Record && (c.LiveKitURL != "" || c.Duration < 5*time.Second) {
		bad("record: through the control plane (not livekitURL), with a duration of 5 s or more")
	}
	if c.RecordDir != "" && (!c.Record || c.Target == "") {
		bad("recordDir: with record, against a target")
	}
	if c.ServerPID < 0 || (c.ServerPID > 0 && c.LiveKitURL == "" && !bridged) {
		bad("serverPID: only with livekitURL or a target on this machine's loopback")
	}
	if err := c.validateRegions(); err != nil {
		errs = append(errs, err)
	}
	if c.multiRegion() && bridged {
		bad("regions: a target on this machine's loopback has one region (leave the target out: the run starts a fleet of its own)")
	}
	if c.multiRegion() && c.Target != "" {
		if len(c.Links) > 0 || c.Link != (Link{}) {
			bad("regions: link and links shape the self-contained fleet's links, not a --target's")
		}
		for _, r := range c.Regions {
			if r.Edges > 1 {
				bad("regions: edges of region %s: the --target fleet has its own", r.Name)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("roomsbench: %w", err)
	}
	return nil
}

// total is the number of participants.
func (c Config) total() int { return c.Rooms * c.Participants }

// spread is the time between two joins.
func (c Config) spread() time.Duration {
	if c.Storm {
		if n := c.total(); n > 1 {
			return c.StormWindow / time.Duration(n)
		}
		return 0
	}
	return c.Spread
}

// loopbackTarget reads a --target URL: its host and port, and whether the
// host is this machine's loopback (127.0.0.0/8 or localhost), which the
// agents then reach through the loopback bridge.
func loopbackTarget(raw string) (netip.AddrPort, bool, error) {
	host, port, err := hostPort(raw, map[string]string{"http": "80", "https": "443"}, "http(s)://host[:port]")
	if err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("target %w", err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.Is4() || !addr.IsLoopback() {
		return netip.AddrPort{}, false, nil
	}
	return netip.AddrPortFrom(addr, port), true, nil
}

// bridgePorts are the ports the loopback bridge forwards: the API's and
// LoopbackPorts (or their default).
func (c Config) bridgePorts(api uint16) ([]loopbridge.Port, error) {
	list := c.LoopbackPorts
	if list == "" {
		list = DefaultLoopbackPorts
	}
	return loopbridge.ParsePorts("tcp:" + strconv.Itoa(int(api)) + "," + list)
}
