package browserbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// DefaultLiveKitClientJS is livekit-client's browser bundle relative to
// the repository's root (.ci/deps installs it with npm ci).
const DefaultLiveKitClientJS = "controlplane/web/app/node_modules/livekit-client/dist/livekit-client.umd.js"

// Codecs are the video codecs the publisher can be asked for
// (livekit-client's videoCodec).
func Codecs() []string { return []string{"vp8", "vp9", "h264", "av1"} }

// benchRange is where a server must listen: the RFC 2544 benchmarking
// range, which the browsers' namespaces route to this machine through the
// run's bridge. Nothing else is reachable from them.
var benchRange = netip.MustParsePrefix("198.18.0.0/15")

// Target is a LiveKit-protocol server: its signalling URL (ws:// or
// wss://, on an address of this machine in 198.18.0.0/15) and an API key
// and secret that tokens are signed with (livekit/protocol/auth).
type Target struct {
	URL       string `json:"url"`
	APIKey    string `json:"-"`
	APISecret string `json:"-"`
}

// Bridge is where a server that Run starts must listen: the run's
// bridge's gateway address (for signalling and media) and the bridge's
// interface (for servers that gather ICE candidates by interface).
type Bridge struct {
	Gateway   netip.Addr
	Interface string
}

// Server is a server started for one run; Run stops it at the end.
type Server struct {
	Target Target
	// PID is the server's process, for its CPU (0: not measured).
	PID int
	// MetricsURL is our edge's Prometheus endpoint, read once a second
	// during the run ("": none).
	MetricsURL string
	Stop       func() error
}

// StartFunc starts a server on the run's bridge.
type StartFunc func(ctx context.Context, at Bridge) (*Server, error)

// Config is one run: a publisher and one or more subscribers in
// Chromium through one server.
type Config struct {
	// Target is a running server. Exactly one of Target and Start.
	Target Target
	// Start starts the server once the run's bridge is up (and Run stops
	// it at the end), so that it can listen on the bridge's gateway.
	Start StartFunc
	// Codec is the publisher's video codec: vp8 (default), vp9, h264,
	// av1. VP8 and H.264 go out in simulcast, VP9 and AV1 in SVC (as
	// livekit-client publishes them).
	Codec string
	// Duration is how long the subscriber stays, from just before its
	// room.connect() (T = 0 of the run's clock; default 40 s).
	Duration time.Duration
	// Settle is the wait between the publisher's publication and the
	// subscriber's start (default 3 s).
	Settle time.Duration
	// Subscribers has one Link per subscriber, each in a namespace of its
	// own: what its downlink does to the server's packets (cap steps'
	// times count from its own connect()). Nil: one subscriber on a
	// clean link.
	Subscribers []Link
	// Width, Height and FPS are the camera's (default 1280x720 at 30).
	Width, Height, FPS int
	// Quality is the video quality every subscriber asks for (LOW,
	// MEDIUM; default HIGH): below HIGH, the server's dynacast should
	// have the publisher stop the layers above it.
	Quality string
	// LiveKitClientJS is livekit-client's UMD bundle (default
	// DefaultLiveKitClientJS, relative to the working directory).
	LiveKitClientJS string
	// Chromium is the browser's binary (default "chromium").
	Chromium string
	// Room is the room's name (default: a fresh random one).
	Room string
	// LogDir, when set, keeps each browser's stderr there
	// (publisher.log, subscriber-1.log, ...).
	LogDir string
	// Logger receives the run's progress (nil: none).
	Logger *slog.Logger
}

// withDefaults fills the zero values.
func (c Config) withDefaults() Config {
	if c.Codec == "" {
		c.Codec = "vp8"
	}
	if c.Duration == 0 {
		c.Duration = 40 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 3 * time.Second
	}
	if c.Width == 0 && c.Height == 0 {
		c.Width, c.Height = 1280, 720
	}
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.LiveKitClientJS == "" {
		c.LiveKitClientJS = DefaultLiveKitClientJS
	}
	if c.Chromium == "" {
		c.Chromium = "chromium"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Subscribers) == 0 {
		c.Subscribers = []Link{{}}
	}
	return c
}

// maxSubscribers bounds a run's subscribers (each a Chromium decoding
// video: a handful is all a small machine can hold).
const maxSubscribers = 16

// Validate checks the settings (zero values stand for their defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(f string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+f, append([]any{ErrInvalid}, a...)...))
	}
	switch {
	case c.Start == nil && c.Target.URL == "":
		bad("no server: give a Target (URL, key, secret) or a Start function")
	case c.Start != nil && c.Target.URL != "":
		bad("both a Target and a Start function: give one")
	case c.Start == nil:
		if err := c.Target.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if !slices.Contains(Codecs(), c.Codec) {
		bad("codec %q: want one of %v", c.Codec, Codecs())
	}
	if c.Duration < 5*time.Second || c.Duration > time.Hour {
		bad("duration %s: want 5s to 1h", c.Duration)
	}
	if c.Settle < 0 || c.Settle > 5*time.Minute {
		bad("settle %s: want 0 to 5m", c.Settle)
	}
	if c.Width < 16 || c.Width > 3840 || c.Height < 16 || c.Height > 2160 {
		bad("camera %dx%d: want 16x16 to 3840x2160", c.Width, c.Height)
	}
	if c.FPS < 1 || c.FPS > 60 {
		bad("fps %d: want 1 to 60", c.FPS)
	}
	if c.Quality != "" && !slices.Contains([]string{"LOW", "MEDIUM", "HIGH"}, c.Quality) {
		bad("quality %q: want LOW, MEDIUM or HIGH", c.Quality)
	}
	if len(c.Subscribers) > maxSubscribers {
		bad("%d subscribers: want 1 to %d", len(c.Subscribers), maxSubscribers)
	}
	for i, l := range c.Subscribers {
		for _, err := range l.validate(c.Duration) {
			if len(c.Subscribers) > 1 {
				err = fmt.Errorf("subscriber %d: %w", i+1, err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// validate checks a target: a ws:// or wss:// URL on an address of
// 198.18.0.0/15 with a port, a key and a secret.
func (t Target) validate() error {
	if _, err := targetAddr(t.URL); err != nil {
		return err
	}
	if t.APIKey == "" || t.APISecret == "" {
		return fmt.Errorf("%w: target %s: an API key and secret are needed to sign tokens", ErrInvalid, t.URL)
	}
	return nil
}

// targetAddr reads a server URL's address, which must be in benchRange.
func targetAddr(raw string) (netip.AddrPort, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return netip.AddrPort{}, fmt.Errorf("%w: target %q: want ws://ADDRESS:PORT", ErrInvalid, raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"ws": "80", "wss": "443"}[u.Scheme]
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: target %q: bad port", ErrInvalid, raw)
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil || !benchRange.Contains(a) {
		return netip.AddrPort{}, fmt.Errorf("%w: target %q: the host must be an address of this machine in %s (the browsers run in network namespaces that reach nothing else)", ErrInvalid, raw, benchRange)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}
