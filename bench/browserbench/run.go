package browserbench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/auth"

	"github.com/spacecast/spacecast/internal/netns"
)

// Errors of a run that did not get as far as measuring.
var (
	// ErrUnavailable: this machine cannot run browsers in namespaces
	// (not root, no ip(8), no chromium, no livekit-client bundle, no tc).
	ErrUnavailable = errors.New("browserbench: unavailable")
	// ErrPage: a page failed before the call was up (see its message).
	ErrPage = errors.New("browserbench: page failed")
)

// Timeouts of the steps before the measurement.
const (
	publishTimeout = 45 * time.Second
	// pollEvery bounds how long the event loop waits between checks.
	pollEvery = 250 * time.Millisecond
)

// Run starts a publisher and, once it has published and Settle has
// passed, a subscriber, both in headless Chromium through livekit-client
// in network namespaces of a throwaway bridge; it shapes the subscriber's
// downlink as Shaping says, taps the bridge, and returns what the
// subscriber saw for Duration. It needs root. Everything it made
// (namespaces, bridge, qdisc, processes, files) is gone when it returns.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if err := netns.Available(); err != nil {
		return Result{}, fmt.Errorf("%w: the browsers run in network namespaces (root and ip(8) needed): %w", ErrUnavailable, err)
	}
	if _, err := os.Stat(cfg.LiveKitClientJS); err != nil {
		return Result{}, fmt.Errorf("%w: livekit-client's bundle: %w (npm ci in controlplane/web/app, as .ci/deps does, or give its path)", ErrUnavailable, err)
	}
	chromium, err := exec.LookPath(cfg.Chromium)
	if err != nil {
		return Result{}, fmt.Errorf("%w: chromium: %w", ErrUnavailable, err)
	}
	if cfg.Shaping.Shaped() {
		if _, err := exec.LookPath("tc"); err != nil {
			return Result{}, fmt.Errorf("%w: tc (iproute2) shapes the link: %w", ErrUnavailable, err)
		}
	}
	r := &runner{cfg: cfg, chromium: chromium, log: cfg.Logger, events: make(chan browserEvent, 256)}
	return r.run(ctx)
}

// runner is the state of one Run.
type runner struct {
	cfg      Config
	chromium string
	log      *slog.Logger
	events   chan browserEvent

	origin   time.Time // T = 0: just before the subscriber's connect()
	pub, sub pageState
	subs     []SubscriberSample
	pubs     []PublisherSample
	notes    []string
}

// pageState is what one page reported about its call.
type pageState struct {
	connecting                            float64 // epoch ms just before connect()
	connected, published, subscribedVideo bool
	connectMs, publishedMs, subscribedMs  float64
	firstPacketMs, firstFrameMs           float64
	renderedMs                            float64
	exited                                bool
	fatal                                 string // an error before the call was up
}

func (r *runner) run(ctx context.Context) (res Result, err error) {
	cfg := r.cfg
	dir, err := os.MkdirTemp("", "browserbench-")
	if err != nil {
		return Result{}, fmt.Errorf("browserbench: %w", err)
	}
	defer os.RemoveAll(dir)

	n, err := netns.NewNetwork(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("browserbench: network: %w", err)
	}
	defer n.Close()
	pubHost, err := n.AddHost(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("browserbench: publisher host: %w", err)
	}
	subHost, err := n.AddHost(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("browserbench: subscriber host: %w", err)
	}
	for _, h := range []*netns.Host{pubHost, subHost} {
		// A server on another bridge of this machine in the range (a test's
		// edge) is reached through this bridge.
		if out, err := exec.CommandContext(ctx, "ip", "-n", h.Name, "route", "add", benchRange.String(), "via", n.Gateway().String()).CombinedOutput(); err != nil {
			return Result{}, fmt.Errorf("browserbench: route in %s: %w: %s", h.Name, err, strings.TrimSpace(string(out)))
		}
	}
	subVeth, err := rootVeth(ctx, subHost.Name)
	if err != nil {
		return Result{}, err
	}

	netInfo := NetworkInfo{
		Bridge: n.BridgeName(), Gateway: n.Gateway().String(),
		PublisherNS: pubHost.Name, PublisherAddr: pubHost.Addr().String(),
		SubscriberNS: subHost.Name, SubscriberAddr: subHost.Addr().String(), SubscriberVeth: subVeth,
	}
	target, serverPID := cfg.Target, 0
	if cfg.Start != nil {
		srv, err := cfg.Start(ctx, Bridge{Gateway: n.Gateway(), Interface: n.BridgeName()})
		if err != nil {
			return Result{}, fmt.Errorf("browserbench: start server: %w", err)
		}
		defer func() {
			if serr := srv.Stop(); serr != nil {
				r.log.Warn("stopping the server", "error", serr)
			}
		}()
		target, serverPID = srv.Target, srv.PID
		if err := target.validate(); err != nil {
			return Result{}, fmt.Errorf("browserbench: the started server: %w", err)
		}
	}
	room := cfg.Room
	if room == "" {
		room = "bench-" + randomHex(4)
	}
	pubTok, err := token(target, room, "publisher", true)
	if err != nil {
		return Result{}, err
	}
	subTok, err := token(target, room, "subscriber", false)
	if err != nil {
		return Result{}, err
	}

	// Background work, all stopped and waited for before returning.
	var wg sync.WaitGroup
	bg, stopBG := context.WithCancel(ctx)
	defer func() { stopBG(); wg.Wait() }()

	pages, err := newPageServer(n.Gateway(), cfg.LiveKitClientJS)
	if err != nil {
		return Result{}, err
	}
	wg.Go(func() {
		if err := pages.serve(bg); err != nil {
			r.log.Warn("page server", "error", err)
		}
	})
	w := newWire(pubHost.Addr(), subHost.Addr())
	tp, err := openTap(n.BridgeName(), w)
	if err != nil {
		return Result{}, err
	}
	tapCtx, stopTap := context.WithCancel(bg)
	defer stopTap()
	tapDone := make(chan struct{})
	wg.Go(func() {
		defer close(tapDone)
		if err := tp.run(tapCtx); err != nil {
			r.log.Warn("tap", "error", err)
		}
	})

	flags := func(who string) []string {
		return chromiumFlags(filepath.Join(dir, who), pages.origin, cfg.FPS)
	}
	logw := func(who string) (io.Writer, func()) {
		if cfg.LogDir == "" {
			return nil, func() {}
		}
		f, err := os.Create(filepath.Join(cfg.LogDir, who+".log"))
		if err != nil {
			r.log.Warn("browser log", "error", err)
			return nil, func() {}
		}
		return f, func() { _ = f.Close() }
	}

	// The publisher.
	pubPage, err := pages.page("publisher.html", session{URL: target.URL, Token: pubTok, Codec: cfg.Codec, Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS})
	if err != nil {
		return Result{}, err
	}
	pubLog, closePubLog := logw("publisher")
	defer closePubLog()
	r.log.Info("starting the publisher", "page", pubPage, "target", target.URL, "codec", cfg.Codec)
	pubB, err := startBrowser(bg, pubHost, "publisher", r.chromium, flags("publisher"), pubPage, pubLog, r.events)
	if err != nil {
		return Result{}, err
	}
	defer pubB.close()
	if err := r.until(ctx, time.Now().Add(publishTimeout), func() bool { return r.pub.published }, "the publisher to publish"); err != nil {
		return Result{}, err
	}
	r.log.Info("published; settling", "ms", r.pub.publishedMs, "settle", cfg.Settle)
	if err := r.until(ctx, time.Now().Add(cfg.Settle), nil, ""); err != nil {
		return Result{}, err
	}

	// The subscriber. T = 0 is just before its room.connect(): the
	// shaper's schedule and the measured time count from there, however
	// long Chromium took to start.
	subPage, err := pages.page("subscriber.html", session{URL: target.URL, Token: subTok})
	if err != nil {
		return Result{}, err
	}
	subLog, closeSubLog := logw("subscriber")
	defer closeSubLog()
	r.log.Info("starting the subscriber", "page", subPage, "shaping", cfg.Shaping.String())
	subB, err := startBrowser(bg, subHost, "subscriber", r.chromium, flags("subscriber"), subPage, subLog, r.events)
	if err != nil {
		return Result{}, err
	}
	defer subB.close()
	if err := r.until(ctx, time.Now().Add(publishTimeout), func() bool { return r.sub.connecting > 0 }, "the subscriber's page"); err != nil {
		return Result{}, err
	}
	r.origin = time.Unix(0, int64(r.sub.connecting*1e6))
	tp.setOrigin(r.origin)
	var sh *shaper
	shDone := make(chan struct{})
	shCtx, stopShaper := context.WithCancel(bg)
	defer stopShaper()
	if cfg.Shaping.Shaped() {
		sh = newShaper(subVeth, cfg.Shaping, r.origin)
		wg.Go(func() {
			defer close(shDone)
			if err := sh.run(shCtx); err != nil {
				r.log.Warn("shaper", "error", err)
				r.note("shaper: %v", err)
			}
		})
	} else {
		close(shDone)
	}
	cpu0 := readCPU(serverPID, pubB.pid(), subB.pid())
	end := r.origin.Add(cfg.Duration)
	if err := r.until(ctx, end, nil, ""); err != nil {
		return Result{}, err
	}
	cpu1 := readCPU(serverPID, pubB.pid(), subB.pid())
	wall := time.Since(r.origin).Seconds()

	// Stop the shaper first (it reads its last counters and removes the
	// cap), then the browsers, then the tap.
	stopShaper()
	<-shDone
	subB.close()
	pubB.close()
	stopTap()
	<-tapDone

	res = r.result(target, w, tp, sh, wall)
	res.Network = netInfo
	if serverPID > 0 {
		res.ServerCPU = 100 * (cpu1.server - cpu0.server) / wall
	}
	res.BrowserCPU = 100 * (cpu1.browsers - cpu0.browsers) / wall
	res.MachineCPU = 100 * (cpu1.machine - cpu0.machine) / wall
	res.ServerRSS, res.BrowserRSS = cpu1.serverRSS, cpu1.browsersRSS
	return res, nil
}

// until handles page events until done reports true (nil: never) or the
// deadline passes; a page that fails before its call is up, a browser
// that exits, or ctx ending, is an error.
func (r *runner) until(ctx context.Context, deadline time.Time, done func() bool, what string) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		if done != nil && done() {
			return nil
		}
		for _, p := range []*pageState{&r.pub, &r.sub} {
			who := "publisher"
			if p == &r.sub {
				who = "subscriber"
			}
			if p.fatal != "" {
				return fmt.Errorf("%w: %s: %s", ErrPage, who, p.fatal)
			}
			if p.exited {
				return fmt.Errorf("%w: %s: chromium exited (give a log directory to see why)", ErrPage, who)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if done != nil {
				return fmt.Errorf("%w: timed out waiting for %s", ErrPage, what)
			}
			return nil
		case ev := <-r.events:
			r.handle(ev)
		}
	}
}

func (r *runner) note(format string, a ...any) {
	at := 0.0
	if !r.origin.IsZero() {
		at = time.Since(r.origin).Seconds()
	}
	r.notes = append(r.notes, fmt.Sprintf("%6.1fs ", at)+fmt.Sprintf(format, a...))
}

// handle takes one page event.
func (r *runner) handle(be browserEvent) {
	p := &r.pub
	if be.who == "subscriber" {
		p = &r.sub
	}
	if be.exited {
		p.exited = true
		r.note("%s: chromium exited", be.who)
		return
	}
	var v struct {
		Epoch    float64 `json:"epoch"`
		Ms       float64 `json:"ms"`
		Kind     string  `json:"kind"`
		Msg      string  `json:"msg"`
		What     string  `json:"what"`
		Reason   any     `json:"reason"`
		Codec    string  `json:"codec"`
		Identity string  `json:"identity"`
	}
	switch be.ev.Kind {
	case "sub":
		var s SubscriberSample
		if json.Unmarshal(be.ev.Raw, &s) == nil {
			r.subs = append(r.subs, s)
		}
		return
	case "pub":
		var s PublisherSample
		if json.Unmarshal(be.ev.Raw, &s) == nil {
			r.pubs = append(r.pubs, s)
		}
		return
	}
	_ = json.Unmarshal(be.ev.Raw, &v)
	switch be.ev.Kind {
	case "connecting":
		p.connecting = v.Epoch
	case "connected":
		p.connected, p.connectMs = true, v.Ms
	case "published":
		p.published, p.publishedMs = true, v.Ms
		r.note("publisher: published %s after %.0f ms", v.Codec, v.Ms)
	case "subscribed":
		if v.Kind == "video" {
			p.subscribedVideo, p.subscribedMs = true, v.Ms
		}
		r.note("subscriber: subscribed to %s %s (%s) after %.0f ms", v.Identity, v.Kind, v.Codec, v.Ms)
	case "first_packet":
		p.firstPacketMs = v.Ms
	case "first_frame":
		p.firstFrameMs = v.Ms
		r.note("subscriber: first frame after %.0f ms", v.Ms)
	case "rendered":
		p.renderedMs = v.Ms
	case "error":
		r.log.Warn("page error", "page", be.who, "msg", v.Msg)
		r.note("%s: error: %s", be.who, v.Msg)
		if (be.who == "publisher" && !p.published) || (be.who == "subscriber" && !p.connected) {
			p.fatal = v.Msg
		}
	case "room":
		r.log.Info("room event", "page", be.who, "what", v.What, "reason", v.Reason)
		r.note("%s: %s %v", be.who, v.What, v.Reason)
	}
}

// result assembles what the run saw.
func (r *runner) result(target Target, w *wire, tp *tap, sh *shaper, wall float64) Result {
	cfg := r.cfg
	originMs := float64(r.origin.UnixNano()) / 1e6
	for i := range r.subs {
		r.subs[i].T = (r.subs[i].TS - originMs) / 1000
	}
	for i := range r.pubs {
		r.pubs[i].T = (r.pubs[i].TS - originMs) / 1000
	}
	res := Result{
		Target: target.URL, Codec: cfg.Codec, Start: r.origin.UTC(), Seconds: wall, Shaping: cfg.Shaping.String(),
		ConnectMs: r.sub.connectMs, SubscribedMs: r.sub.subscribedMs, FirstPacketMs: r.sub.firstPacketMs,
		TTFFMs: r.sub.firstFrameMs, RenderedMs: r.sub.renderedMs, Decoded: r.sub.firstFrameMs > 0,
		PublishedMs: r.pub.publishedMs,
		Subscriber:  r.subs, PublisherSamples: r.pubs, Events: r.notes,
	}
	end := wall
	if !res.Decoded {
		// The 20 ms poll never saw a frame; the per-second stats may have.
		for _, s := range r.subs {
			if s.Video != nil && s.Video.FramesDecoded > 0 {
				res.Decoded = true
				r.sub.firstFrameMs = s.TS - r.sub.connecting
				res.TTFFMs = r.sub.firstFrameMs
				r.note("subscriber: no first-frame report; the first frame is taken from the per-second stats (%.0f ms, up to a second late)", res.TTFFMs)
				res.Events = r.notes
				break
			}
		}
	}
	if res.Decoded {
		res.FirstFrameAt = (r.sub.connecting + r.sub.firstFrameMs - originMs) / 1000
		if r.sub.firstPacketMs > 0 {
			res.FirstKeyframeDelayMs = r.sub.firstFrameMs - r.sub.firstPacketMs
		}
		res.Video = summarizeVideo(r.subs, res.FirstFrameAt, end)
		res.Audio = summarizeAudio(r.subs, res.FirstFrameAt, end)
	}
	res.Publisher = summarizePublisher(r.pubs, 0, end)

	var delivered []qdiscCounters
	if sh != nil {
		delivered = sh.perSec
	}
	tp.with(func(w *wire, dropped uint64) {
		res.Wire = wireResult(w, dropped, r.subs, r.pubs)
		res.Series = seriesOf(r.subs, w.downBytes, delivered, cfg.Shaping, int(wall)) // whole seconds
		if sh != nil {
			res.Phases = sh.phases()
			for i := range res.Phases {
				p := &res.Phases[i]
				var bytes uint64
				for s := int(p.From); s < int(math.Ceil(p.To)) && s < len(w.downBytes); s++ {
					bytes += w.downBytes[s]
				}
				if d := p.To - p.From; d > 0 {
					p.OfferedKbps = float64(bytes) * 8 / 1000 / d
				}
				p.Video = summarizeVideo(r.subs, max(p.From, res.FirstFrameAt), p.To)
			}
		}
	})
	return res
}

// wireResult names the tap's streams after the browsers' stats and adds
// them up.
func wireResult(w *wire, dropped uint64, subs []SubscriberSample, pubs []PublisherSample) WireResult {
	down, up := map[uint32]string{}, map[uint32]string{}
	for _, s := range subs {
		if v := s.Video; v != nil {
			down[v.SSRC] = "video"
			if v.RTXSSRC != 0 {
				down[v.RTXSSRC] = "video rtx"
			}
		}
		if a := s.Audio; a != nil {
			down[a.SSRC] = "audio"
		}
	}
	for _, s := range pubs {
		for _, l := range s.Layers {
			up[l.SSRC] = strings.TrimSpace("video " + l.RID)
			if l.RTXSSRC != 0 {
				up[l.RTXSSRC] = strings.TrimSpace("video rtx " + l.RID)
			}
		}
		if s.Audio != nil {
			up[s.Audio.SSRC] = "audio"
		}
	}
	out := WireResult{Down: w.down, Up: w.up, TapDrops: dropped}
	for _, s := range w.streamList() {
		if s.Direction == "down" {
			s.Role = down[s.SSRC]
			out.Holes += s.Holes
			out.Unfilled += s.Holes - min(s.Filled, s.Holes)
			switch s.Role {
			case "video":
				out.MediaResent += s.Late + s.Duplicates
				out.PaddingDown += s.Padding
			case "video rtx":
				out.RTXPackets += s.Packets
				out.PaddingDown += s.Padding
			}
		} else {
			s.Role = up[s.SSRC]
			if strings.HasPrefix(s.Role, "video") {
				out.PaddingUp += s.Padding
			}
		}
		out.Streams = append(out.Streams, s)
	}
	return out
}

// token mints a LiveKit access token for identity in room.
func token(t Target, room, identity string, publish bool) (string, error) {
	sub := true
	tok, err := auth.NewAccessToken(t.APIKey, t.APISecret).
		SetIdentity(identity).SetName(identity).SetValidFor(2 * time.Hour).
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: room, CanPublish: &publish, CanSubscribe: &sub}).
		ToJWT()
	if err != nil {
		return "", fmt.Errorf("browserbench: token: %w", err)
	}
	return tok, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
