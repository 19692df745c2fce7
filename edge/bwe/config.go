package bwe

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrConfig: a Config field is out of range.
	ErrConfig = errors.New("bwe: invalid config")
	// ErrMalformed: a transport-cc feedback packet does not parse.
	ErrMalformed = errors.New("bwe: malformed feedback")
)

// Defaults for the zero values of Config.
const (
	DefaultMin              = 100_000    // bits/s
	DefaultMax              = 50_000_000 // bits/s
	DefaultInitial          = 600_000    // bits/s: a 360p layer and audio, tried before anything above
	DefaultHistory          = 4096       // packets
	DefaultProbeMinPackets  = 5
	DefaultProbeMinDuration = 30 * time.Millisecond
	DefaultProbeInterval    = 5 * time.Second
	// DefaultOverhead is what a packet carries below its RTP header on
	// the way: IPv4 (20 bytes), UDP (8) and SRTP's authentication tag
	// (10). A link's rate counts them: a 600 kbit/s link carries about
	// 500 kbit/s of 250-byte padding packets' RTP.
	DefaultOverhead = 38
)

// Config bounds and tunes one connection's estimator. Zero values mean the
// defaults above; Validate reports what is out of range.
type Config struct {
	// Min, Max and Initial bound the target bitrate and start it, in
	// bits/s. Initial is clamped into [Min, Max].
	Min, Max, Initial uint64
	// History is how many sent packets are remembered for matching with
	// feedback: a power of two between 256 and 32768. It must cover the
	// packets sent in the longest feedback delay (4096 is about 4 s at
	// 10 Mbit/s of 1,200-byte packets).
	History int
	// ProbeMinPackets and ProbeMinDuration size a probe cluster: at least
	// that many packets, lasting at least that long at the cluster's rate
	// (libwebrtc's 5 packets and 15 ms).
	ProbeMinPackets  int
	ProbeMinDuration time.Duration
	// ProbeInterval is the longest wait between probes while the caller
	// wants more than the estimate (the backoff after failed probes and the
	// period of probing in the application-limited region).
	ProbeInterval time.Duration
	// NoProbe turns probing off: NextProbe never returns a cluster.
	NoProbe bool
	// Overhead is the bytes each packet carries besides what Sent is told
	// (0: DefaultOverhead), so that estimates are in the link's terms.
	Overhead int
}

// Validate checks the configuration as it will be used (after defaults).
func (c Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.Min > d.Max:
		return fmt.Errorf("%w: Min %d above Max %d", ErrConfig, d.Min, d.Max)
	case d.Max > 10_000_000_000:
		return fmt.Errorf("%w: Max %d above 10 Gbit/s", ErrConfig, d.Max)
	case d.History < 256 || d.History > 32768 || d.History&(d.History-1) != 0:
		return fmt.Errorf("%w: History %d is not a power of two in [256, 32768]", ErrConfig, d.History)
	case d.ProbeMinPackets < 1 || d.ProbeMinPackets > 100:
		return fmt.Errorf("%w: ProbeMinPackets %d not in [1, 100]", ErrConfig, d.ProbeMinPackets)
	case d.ProbeMinDuration < time.Millisecond || d.ProbeMinDuration > 500*time.Millisecond:
		return fmt.Errorf("%w: ProbeMinDuration %v not in [1ms, 500ms]", ErrConfig, d.ProbeMinDuration)
	case d.ProbeInterval < time.Second || d.ProbeInterval > 5*time.Minute:
		return fmt.Errorf("%w: ProbeInterval %v not in [1s, 5m]", ErrConfig, d.ProbeInterval)
	case d.Overhead < 0 || d.Overhead > 200:
		return fmt.Errorf("%w: Overhead %d not in [0, 200] bytes", ErrConfig, d.Overhead)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Min == 0 {
		c.Min = DefaultMin
	}
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.Initial == 0 {
		c.Initial = DefaultInitial
	}
	c.Initial = min(max(c.Initial, c.Min), c.Max)
	if c.History == 0 {
		c.History = DefaultHistory
	}
	if c.ProbeMinPackets == 0 {
		c.ProbeMinPackets = DefaultProbeMinPackets
	}
	if c.ProbeMinDuration == 0 {
		c.ProbeMinDuration = DefaultProbeMinDuration
	}
	if c.Overhead == 0 {
		c.Overhead = DefaultOverhead
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	return c
}
