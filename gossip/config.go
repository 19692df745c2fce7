package gossip

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ErrInvalid marks an unusable gossip configuration.
var ErrInvalid = errors.New("gossip: invalid config")

// Roles a node can have.
const (
	RoleEdge         = "edge"
	RoleControlPlane = "controlplane"
)

// Profiles, in the manner of memberlist's DefaultLANConfig / DefaultWANConfig
// / DefaultLocalConfig.
const (
	ProfileLAN   = "lan"
	ProfileWAN   = "wan"
	ProfileLocal = "local"
)

// Config is the `gossip:` section. Zero timing fields take the profile's
// value (see Timing).
type Config struct {
	// NodeID names the node in the cluster; it must be unique and stable
	// across restarts (a restarted node with the same ID and address takes
	// its old place).
	NodeID string `yaml:"nodeId"`
	// Role is "edge" or "controlplane".
	Role string `yaml:"role"`
	// Region is the node's region, e.g. "eu-west".
	Region string `yaml:"region"`
	// BindAddr is the UDP and TCP address gossip listens on (host:port; the
	// same port serves both). Port 0 picks a free port (tests).
	BindAddr string `yaml:"bindAddr"`
	// AdvertiseAddr is the host:port other nodes reach this one at. Empty
	// means the bound address (which must then not be unspecified).
	AdvertiseAddr string `yaml:"advertiseAddr"`
	// Seeds are host:port addresses of nodes to join through. A node with no
	// seeds starts a cluster of its own and waits for others to join it.
	Seeds []string `yaml:"seeds"`
	// Profile is the timing of the node's pool (its region's, with a wan
	// section): lan (one region), local (tests on one host) or wan (one
	// flat pool across regions, which is slow to find a dead node: prefer a
	// pool per region and a wan section).
	Profile string `yaml:"profile"`
	// URLAllowlist names the hosts members may advertise in their
	// signalling, probe and TURN URLs and their relay address: host names, "*.example.com" (any
	// name under the domain), IP addresses or CIDR prefixes. A member
	// advertising any other host is kept out of placement and moderation
	// (its Member.MetaErr is ErrURLNotAllowed), and a node refuses to
	// advertise one itself. Empty: any host (spacecast dev; production
	// refuses to start without it).
	URLAllowlist []string `yaml:"urlAllowlist"`
	// LeaveOnStop makes Run announce a graceful leave when it stops, so the
	// others drop the node at once instead of detecting a failure.
	LeaveOnStop bool `yaml:"leaveOnStop"`
	// WAN makes the node able to join the pool that spans the regions (see
	// WANConfig). Absent, the node is a member of its region's pool only,
	// and learns about other regions through the nodes of its region that
	// are in the WAN pool; a fleet where no node has it is one flat pool,
	// as before regions had pools of their own.
	WAN WANConfig `yaml:"wan"`

	Timing `yaml:",inline"`
}

// DefaultWANMembers is how many edges of a region join the WAN pool when
// WANConfig.Members is zero.
const DefaultWANMembers = 3

// WANConfig is the `gossip.wan:` section. With a WAN section the node's
// main pool (BindAddr, Seeds, Profile) is its region's pool, with LAN
// timing, and the node may also join the pool that joins the regions, on
// its own port, with WAN timing. Every control plane that has the section
// joins it; of a region's edges that have it, the Members ones with the
// lowest node ids do (the others stand by, and take over when one of
// those is gone). The region's pool then keeps nodes of other regions
// out: its Seeds must be of the node's region; regions meet through
// WANConfig.Seeds.
type WANConfig struct {
	// BindAddr is the UDP and TCP address of the WAN pool (host:port, not
	// the region pool's port). Required when the section is present.
	BindAddr string `yaml:"bindAddr"`
	// AdvertiseAddr is the host:port nodes of other regions reach this one
	// at; empty means the bound address.
	AdvertiseAddr string `yaml:"advertiseAddr"`
	// Seeds are WAN addresses (host:port) of nodes in the WAN pool, ideally
	// control planes of several regions. WAN members also find each other
	// through the fleet view, so seeds only matter until a node has seen
	// one WAN member.
	Seeds []string `yaml:"seeds"`
	// Members is how many edges per region join the WAN pool (0: 3).
	// Every node of a region should have the same value.
	Members int `yaml:"members"`
	// Profile is the WAN pool's timing profile (default wan); the Timing
	// fields below override it.
	Profile string `yaml:"profile"`

	Timing `yaml:",inline"`
}

// Enabled reports whether the section is present.
func (w WANConfig) Enabled() bool {
	return w.BindAddr != "" || w.AdvertiseAddr != "" || len(w.Seeds) > 0 || w.Members != 0 ||
		w.Profile != "" || w.Timing != (Timing{})
}

// members is Members with its default.
func (w WANConfig) members() int {
	if w.Members == 0 {
		return DefaultWANMembers
	}
	return w.Members
}

// Effective returns the WAN pool's timing: the profile's (wan when
// empty), overridden by every non-zero field of w.Timing.
func (w WANConfig) Effective() (Timing, error) {
	p := w.Profile
	if p == "" {
		p = ProfileWAN
	}
	t, err := ProfileTiming(p)
	if err != nil {
		return Timing{}, fmt.Errorf("%w (wan)", err)
	}
	return overlay(t, w.Timing), nil
}

// Timing holds the protocol intervals. The profile functions (LANTiming,
// WANTiming, LocalTiming) give complete sets; in a Config, zero fields take
// the profile's value.
type Timing struct {
	// ProbeInterval is how often a node probes a random peer; ProbeTimeout
	// how long it waits for a direct ack before asking IndirectChecks peers
	// to probe for it. Lifeguard's local-health awareness stretches
	// ProbeTimeout when this node itself is slow.
	ProbeInterval time.Duration `yaml:"probeInterval"`
	ProbeTimeout  time.Duration `yaml:"probeTimeout"`
	// IndirectChecks is the number of peers asked to probe a node that did
	// not answer directly.
	IndirectChecks int `yaml:"indirectChecks"`
	// SuspicionMult scales the suspicion timeout: the minimum is
	// SuspicionMult × log10(N) × ProbeInterval, reached once SuspicionMult-2
	// other nodes independently confirm the suspicion (Lifeguard); without
	// confirmations it starts SuspicionMaxMult times higher.
	SuspicionMult    int `yaml:"suspicionMult"`
	SuspicionMaxMult int `yaml:"suspicionMaxMult"`
	// GossipInterval and GossipNodes: every interval, queued broadcasts go to
	// this many random peers.
	GossipInterval time.Duration `yaml:"gossipInterval"`
	GossipNodes    int           `yaml:"gossipNodes"`
	// RetransmitMult: each broadcast is sent RetransmitMult × log10(N+1)
	// times.
	RetransmitMult int `yaml:"retransmitMult"`
	// PushPullInterval is the period of the full-state anti-entropy sync
	// with one random peer (memberlist stretches it for N > 32).
	PushPullInterval time.Duration `yaml:"pushPullInterval"`
	// TCPTimeout bounds a push/pull or join stream.
	TCPTimeout time.Duration `yaml:"tcpTimeout"`
	// GossipToTheDead is how long dead nodes still get gossip (so a healed
	// partition hears about itself and refutes).
	GossipToTheDead time.Duration `yaml:"gossipToTheDead"`
	// DeadReclaim is how long a dead node's ID stays bound to its old
	// address before a node with the same ID at another address may take it.
	DeadReclaim time.Duration `yaml:"deadReclaim"`
	// RejoinInterval is how often Run retries the seeds while it is alone,
	// and tries to reach nodes it saw fail (healed partitions, restarts).
	RejoinInterval time.Duration `yaml:"rejoinInterval"`
	// ReconnectTimeout is how long failed nodes are retried.
	ReconnectTimeout time.Duration `yaml:"reconnectTimeout"`
	// SyncFanout is the expected number of nodes that run a full-state sync
	// with a node that just joined (or came back after a partition); the
	// joiner itself also syncs with this many random members.
	SyncFanout int `yaml:"syncFanout"`
	// SyncMinInterval spaces the syncs a node triggers on joins.
	SyncMinInterval time.Duration `yaml:"syncMinInterval"`
	// LoadInterval is the shortest time between two load-only metadata
	// updates (SetLoad); draining and full/not-full changes go out at once.
	LoadInterval time.Duration `yaml:"loadInterval"`
	// LeaveTimeout bounds the graceful leave broadcast.
	LeaveTimeout time.Duration `yaml:"leaveTimeout"`
}

// LANTiming is the profile for one region (sub-millisecond to few-ms RTTs).
//
// Memberlist's LAN defaults (probe every 1 s, timeout 500 ms, SuspicionMult
// 4) take 7–40 s to declare a node dead at N = 50. We probe every 300 ms and
// keep all of Lifeguard (suspicion confirmations, local-health awareness,
// nacks): with SuspicionMult 3, one independent confirmation brings the
// suspicion timeout down to its minimum 3 × log10(N) × 300 ms (0.9 s at
// N = 10, 1.5 s at N = 50, 2.1 s at N = 200); add one probe round to first
// suspect and a few gossip rounds to spread the verdict. Without a
// confirmation the timeout stays SuspicionMaxMult (6) times longer, which is
// what protects a node that only one slow peer fails to reach. ProbeTimeout
// 250 ms is still two orders of magnitude above a LAN RTT and leaves room
// for a busy host's scheduling and GC pauses, and awareness
// multiplies it (and the interval) up to 8× on a node that is itself
// overloaded, which is what keeps false positives down when a host stalls.
// Idle cost: one ping/ack pair per interval each way, under 500 B/s with
// encryption, plus the push/pull anti-entropy every 60 s (stretched by
// memberlist beyond 32 nodes).
func LANTiming() Timing {
	return Timing{
		ProbeInterval:    300 * time.Millisecond,
		ProbeTimeout:     250 * time.Millisecond,
		IndirectChecks:   3,
		SuspicionMult:    3,
		SuspicionMaxMult: 6,
		GossipInterval:   100 * time.Millisecond,
		GossipNodes:      3,
		RetransmitMult:   4,
		PushPullInterval: 60 * time.Second,
		TCPTimeout:       5 * time.Second,
		GossipToTheDead:  30 * time.Second,
		DeadReclaim:      10 * time.Second,
		RejoinInterval:   5 * time.Second,
		ReconnectTimeout: 24 * time.Hour,
		SyncFanout:       3,
		SyncMinInterval:  time.Second,
		LoadInterval:     5 * time.Second,
		LeaveTimeout:     2 * time.Second,
	}
}

// WANTiming is the profile for a cluster spread over regions: memberlist's
// WAN values (probe every 5 s, timeout 3 s, SuspicionMult 6), which tolerate
// intercontinental RTTs and lossy paths.
func WANTiming() Timing {
	return Timing{
		ProbeInterval:    5 * time.Second,
		ProbeTimeout:     3 * time.Second,
		IndirectChecks:   3,
		SuspicionMult:    6,
		SuspicionMaxMult: 6,
		GossipInterval:   500 * time.Millisecond,
		GossipNodes:      4,
		RetransmitMult:   4,
		PushPullInterval: 60 * time.Second,
		TCPTimeout:       30 * time.Second,
		GossipToTheDead:  60 * time.Second,
		DeadReclaim:      30 * time.Second,
		RejoinInterval:   30 * time.Second,
		ReconnectTimeout: 72 * time.Hour,
		SyncFanout:       3,
		SyncMinInterval:  time.Second,
		LoadInterval:     10 * time.Second,
		LeaveTimeout:     5 * time.Second,
	}
}

// LocalTiming is the profile for tests and benchmarks on one host: fast
// intervals, short timeouts.
func LocalTiming() Timing {
	return Timing{
		ProbeInterval:    200 * time.Millisecond,
		ProbeTimeout:     100 * time.Millisecond,
		IndirectChecks:   2,
		SuspicionMult:    3,
		SuspicionMaxMult: 4,
		GossipInterval:   50 * time.Millisecond,
		GossipNodes:      3,
		// A broadcast reaches every node only with high probability (each
		// is sent RetransmitMult × ⌈log10(N+1)⌉ times, to random nodes); the
		// full-state sync repairs a miss. At 3 and 10 s a small cluster
		// missed a join for 10 s in about 1 run of 12 of the gossip bench's
		// test; tests on one host can afford both more.
		RetransmitMult:   4,
		PushPullInterval: 3 * time.Second,
		TCPTimeout:       time.Second,
		GossipToTheDead:  10 * time.Second,
		DeadReclaim:      time.Second,
		RejoinInterval:   300 * time.Millisecond,
		ReconnectTimeout: time.Minute,
		SyncFanout:       3,
		SyncMinInterval:  50 * time.Millisecond,
		LoadInterval:     200 * time.Millisecond,
		LeaveTimeout:     500 * time.Millisecond,
	}
}

// Default is the configuration before the YAML section is applied: the LAN
// profile, binding the standard memberlist port on all interfaces.
func Default() Config {
	return Config{
		Role:        RoleEdge,
		BindAddr:    "0.0.0.0:7946",
		Profile:     ProfileLAN,
		LeaveOnStop: true,
	}
}

// ProfileTiming returns the complete timing of a profile name.
func ProfileTiming(profile string) (Timing, error) {
	switch profile {
	case ProfileLAN, "":
		return LANTiming(), nil
	case ProfileWAN:
		return WANTiming(), nil
	case ProfileLocal:
		return LocalTiming(), nil
	}
	return Timing{}, fmt.Errorf("%w: profile %q: want lan, wan or local", ErrInvalid, profile)
}

// Effective returns the timing in force: the profile's, overridden by every
// non-zero field of c.Timing.
func (c Config) Effective() (Timing, error) {
	t, err := ProfileTiming(c.Profile)
	if err != nil {
		return Timing{}, err
	}
	return overlay(t, c.Timing), nil
}

// overlay returns t with every non-zero field of o.
func overlay(t, o Timing) Timing {
	setD := func(dst *time.Duration, v time.Duration) {
		if v != 0 {
			*dst = v
		}
	}
	setI := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	setD(&t.ProbeInterval, o.ProbeInterval)
	setD(&t.ProbeTimeout, o.ProbeTimeout)
	setI(&t.IndirectChecks, o.IndirectChecks)
	setI(&t.SuspicionMult, o.SuspicionMult)
	setI(&t.SuspicionMaxMult, o.SuspicionMaxMult)
	setD(&t.GossipInterval, o.GossipInterval)
	setI(&t.GossipNodes, o.GossipNodes)
	setI(&t.RetransmitMult, o.RetransmitMult)
	setD(&t.PushPullInterval, o.PushPullInterval)
	setD(&t.TCPTimeout, o.TCPTimeout)
	setD(&t.GossipToTheDead, o.GossipToTheDead)
	setD(&t.DeadReclaim, o.DeadReclaim)
	setD(&t.RejoinInterval, o.RejoinInterval)
	setD(&t.ReconnectTimeout, o.ReconnectTimeout)
	setI(&t.SyncFanout, o.SyncFanout)
	setD(&t.SyncMinInterval, o.SyncMinInterval)
	setD(&t.LoadInterval, o.LoadInterval)
	setD(&t.LeaveTimeout, o.LeaveTimeout)
	return t
}

// Validate checks that the section can be used.
func (c Config) Validate() error {
	if c.NodeID == "" {
		return fmt.Errorf("%w: nodeId is required", ErrInvalid)
	}
	if len(c.NodeID) > 128 {
		return fmt.Errorf("%w: nodeId is longer than 128 bytes", ErrInvalid)
	}
	switch c.Role {
	case RoleEdge, RoleControlPlane:
	default:
		return fmt.Errorf("%w: role %q: want edge or controlplane", ErrInvalid, c.Role)
	}
	if c.Region == "" {
		return fmt.Errorf("%w: region is required", ErrInvalid)
	}
	if _, err := netip.ParseAddrPort(c.BindAddr); err != nil {
		return fmt.Errorf("%w: bindAddr %q: %w", ErrInvalid, c.BindAddr, err)
	}
	if c.AdvertiseAddr != "" {
		ap, err := netip.ParseAddrPort(c.AdvertiseAddr)
		if err != nil {
			return fmt.Errorf("%w: advertiseAddr %q: %w", ErrInvalid, c.AdvertiseAddr, err)
		}
		if ap.Addr().IsUnspecified() || ap.Port() == 0 {
			return fmt.Errorf("%w: advertiseAddr %q must name a host and a port", ErrInvalid, c.AdvertiseAddr)
		}
	}
	for i, s := range c.Seeds {
		if _, _, err := splitHostPort(s); err != nil {
			return fmt.Errorf("%w: seeds[%d] %q: %w", ErrInvalid, i, s, err)
		}
	}
	if _, err := newURLPolicy(c.URLAllowlist); err != nil {
		return fmt.Errorf("%w: urlAllowlist: %w", ErrInvalid, err)
	}
	t, err := c.Effective()
	if err != nil {
		return err
	}
	if err := t.validate(""); err != nil {
		return err
	}
	if c.WAN.Enabled() {
		if err := c.WAN.validate(c.BindAddr); err != nil {
			return err
		}
	}
	return nil
}

func (w WANConfig) validate(lanBind string) error {
	if w.BindAddr == "" {
		return fmt.Errorf("%w: wan.bindAddr is required in a wan section", ErrInvalid)
	}
	bind, err := netip.ParseAddrPort(w.BindAddr)
	if err != nil {
		return fmt.Errorf("%w: wan.bindAddr %q: %w", ErrInvalid, w.BindAddr, err)
	}
	if lan, err := netip.ParseAddrPort(lanBind); err == nil && bind.Port() != 0 && lan.Port() == bind.Port() &&
		(lan.Addr() == bind.Addr() || lan.Addr().IsUnspecified() || bind.Addr().IsUnspecified()) {
		return fmt.Errorf("%w: wan.bindAddr %s takes the port of bindAddr %s: the pools need a port each", ErrInvalid, w.BindAddr, lanBind)
	}
	if w.AdvertiseAddr != "" {
		ap, err := netip.ParseAddrPort(w.AdvertiseAddr)
		if err != nil {
			return fmt.Errorf("%w: wan.advertiseAddr %q: %w", ErrInvalid, w.AdvertiseAddr, err)
		}
		if ap.Addr().IsUnspecified() || ap.Port() == 0 {
			return fmt.Errorf("%w: wan.advertiseAddr %q must name a host and a port", ErrInvalid, w.AdvertiseAddr)
		}
	}
	for i, s := range w.Seeds {
		if _, _, err := splitHostPort(s); err != nil {
			return fmt.Errorf("%w: wan.seeds[%d] %q: %w", ErrInvalid, i, s, err)
		}
	}
	if w.Members < 0 || w.Members > maxWANMembers {
		return fmt.Errorf("%w: wan.members %d: want 1 to %d (0: %d)", ErrInvalid, w.Members, maxWANMembers, DefaultWANMembers)
	}
	t, err := w.Effective()
	if err != nil {
		return err
	}
	return t.validate("wan.")
}

// maxWANMembers bounds wan.members: the WAN pool is meant to be small.
const maxWANMembers = 32

// validate checks a complete timing; prefix names the section in errors.
func (t Timing) validate(prefix string) error {
	switch {
	case t.ProbeTimeout >= t.ProbeInterval:
		return fmt.Errorf("%w: %sprobeTimeout (%v) must be shorter than %sprobeInterval (%v)", ErrInvalid, prefix, t.ProbeTimeout, prefix, t.ProbeInterval)
	case t.SuspicionMult < 2:
		return fmt.Errorf("%w: %ssuspicionMult must be at least 2", ErrInvalid, prefix)
	case t.SuspicionMaxMult < 1:
		return fmt.Errorf("%w: %ssuspicionMaxMult must be at least 1", ErrInvalid, prefix)
	case t.GossipNodes < 1 || t.RetransmitMult < 1 || t.IndirectChecks < 0 || t.SyncFanout < 0:
		return fmt.Errorf("%w: %sgossipNodes and %sretransmitMult must be positive", ErrInvalid, prefix, prefix)
	}
	for name, d := range map[string]time.Duration{
		"probeInterval": t.ProbeInterval, "probeTimeout": t.ProbeTimeout,
		"gossipInterval": t.GossipInterval, "pushPullInterval": t.PushPullInterval,
		"tcpTimeout": t.TCPTimeout, "rejoinInterval": t.RejoinInterval,
		"syncMinInterval": t.SyncMinInterval, "loadInterval": t.LoadInterval,
		"leaveTimeout": t.LeaveTimeout, "reconnectTimeout": t.ReconnectTimeout,
	} {
		if d < 0 {
			return fmt.Errorf("%w: %s%s is negative", ErrInvalid, prefix, name)
		}
	}
	return nil
}
