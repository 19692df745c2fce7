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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/auth"

	"github.com/spacecast/spacecast/bench/impair"
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
)

// Run starts a publisher and, once it has published and Settle has
// passed, the subscribers, all in headless Chromium through
// livekit-client, each in a network namespace of a throwaway bridge; it
// impairs each subscriber's downlink as its Link says, taps the bridge,
// and returns what every subscriber saw for Duration. It needs root.
// Everything it made (namespaces, bridge, qdiscs, rules, processes,
// files) is gone when it returns.
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
	for _, l := range cfg.Subscribers {
		if l.Shaping.Shaped() {
			if _, err := exec.LookPath("tc"); err != nil {
				return Result{}, fmt.Errorf("%w: tc (iproute2) shapes the link: %w", ErrUnavailable, err)
			}
		}
		if l.Loss > 0 || l.Delayed() {
			if err := impair.Available(); err != nil {
				return Result{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
		}
	}
	r := &runner{cfg: cfg, chromium: chromium, log: cfg.Logger, events: make(chan browserEvent, 256)}
	return r.run(ctx)
}

// lossTag names a subscriber's loss rule (package impair).
const lossTag = "browserbench"

// runner is the state of one Run.
type runner struct {
	cfg      Config
	chromium string
	log      *slog.Logger
	events   chan browserEvent

	pub   pageState
	subs  []*subscriber
	pubs  []PublisherSample
	notes []string
}

// subscriber is one subscriber's part of a run.
type subscriber struct {
	name    string // s1, s2, ...
	link    Link
	host    *netns.Host
	veth    string
	page    pageState
	origin  time.Time // T = 0: just before its connect() (zero until then)
	samples []SubscriberSample
	browser *browser
	shaper  *shaper
	relay   *impair.DelayRelay
	lossErr error
	lossN   uint64
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
	hosts := []*netns.Host{pubHost}
	for i, l := range cfg.Subscribers {
		h, err := n.AddHost(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("browserbench: subscriber host: %w", err)
		}
		r.subs = append(r.subs, &subscriber{name: "s" + strconv.Itoa(i+1), link: l, host: h})
		hosts = append(hosts, h)
	}
	for _, h := range hosts {
		// A server on another bridge of this machine in the range (a test's
		// edge) is reached through this bridge.
		if out, err := exec.CommandContext(ctx, "ip", "-n", h.Name, "route", "add", benchRange.String(), "via", n.Gateway().String()).CombinedOutput(); err != nil {
			return Result{}, fmt.Errorf("browserbench: route in %s: %w: %s", h.Name, err, strings.TrimSpace(string(out)))
		}
	}
	netInfo := NetworkInfo{
		Bridge: n.BridgeName(), Gateway: n.Gateway().String(),
		PublisherNS: pubHost.Name, PublisherAddr: pubHost.Addr().String(),
	}
	for _, s := range r.subs {
		if s.veth, err = rootVeth(ctx, s.host.Name); err != nil {
			return Result{}, err
		}
		netInfo.Subscribers = append(netInfo.Subscribers, SubscriberHost{NS: s.host.Name, Addr: s.host.Addr().String(), Veth: s.veth})
	}

	target, serverPID, metricsURL := cfg.Target, 0, ""
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
		target, serverPID, metricsURL = srv.Target, srv.PID, srv.MetricsURL
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
	var sc *scraper
	scCtx, stopScraper := context.WithCancel(bg)
	defer stopScraper()
	scDone := make(chan struct{})
	if metricsURL != "" {
		sc = newScraper(metricsURL)
		wg.Go(func() { defer close(scDone); sc.run(scCtx) })
	} else {
		close(scDone)
	}
	wires := make([]*wire, len(r.subs))
	for i, s := range r.subs {
		wires[i] = newWire(pubHost.Addr(), s.host.Addr())
	}
	tp, err := openTap(n.BridgeName(), wires)
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

	// Loss and delay are in place before the subscribers start.
	relayCtx, stopRelays := context.WithCancel(bg)
	var relays sync.WaitGroup
	defer func() { stopRelays(); relays.Wait() }()
	for i, s := range r.subs {
		if s.link.Loss > 0 {
			if err := impair.AddLoss(ctx, s.host, s.link.Loss, nil, lossTag); err != nil {
				return Result{}, err
			}
		}
		if s.link.Delayed() {
			rl, err := impair.NewDelayRelay(ctx, s.host, []impair.Class{{Delay: s.link.Delay, Jitter: s.link.Jitter}}, uint64(time.Now().UnixNano())+uint64(i))
			if err != nil {
				return Result{}, err
			}
			s.relay = rl
			relays.Go(func() { rl.Run(relayCtx) })
		}
	}

	flags := func(who string) []string {
		return chromiumFlags(filepath.Join(dir, who), pages.origin, cfg.FPS)
	}
	logw := func(file string) (io.Writer, func()) {
		if cfg.LogDir == "" {
			return nil, func() {}
		}
		f, err := os.Create(filepath.Join(cfg.LogDir, file+".log"))
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

	// The subscribers, all at once. Each one's T = 0 is just before its
	// room.connect(): its cap's schedule and its measured time count from
	// there, however long Chromium took to start.
	for i, s := range r.subs {
		tok, err := token(target, room, "subscriber-"+strconv.Itoa(i+1), false)
		if err != nil {
			return Result{}, err
		}
		page, err := pages.page("subscriber.html", session{URL: target.URL, Token: tok, Quality: cfg.Quality})
		if err != nil {
			return Result{}, err
		}
		lw, closeLog := logw("subscriber-" + strconv.Itoa(i+1))
		defer closeLog()
		r.log.Info("starting a subscriber", "subscriber", s.name, "page", page, "link", s.link.String())
		s.browser, err = startBrowser(bg, s.host, s.name, r.chromium, flags(s.name), page, lw, r.events)
		if err != nil {
			return Result{}, err
		}
		defer s.browser.close()
	}
	var shapers sync.WaitGroup
	shCtx, stopShapers := context.WithCancel(bg)
	defer func() { stopShapers(); shapers.Wait() }()
	started := 0
	err = r.until(ctx, time.Now().Add(publishTimeout), func() bool {
		for i, s := range r.subs {
			if !s.origin.IsZero() || s.page.connecting == 0 {
				continue
			}
			s.origin = time.Unix(0, int64(s.page.connecting*1e6))
			tp.setOrigin(i, s.origin)
			started++
			if s.link.Shaping.Shaped() {
				sh := newShaper(s.veth, s.link.Shaping, s.origin)
				s.shaper = sh
				shapers.Go(func() {
					if err := sh.run(shCtx); err != nil {
						r.log.Warn("shaper", "error", err, "subscriber", s.name)
						r.note("%s: shaper: %v", s.name, err)
					}
				})
			}
		}
		return started == len(r.subs)
	}, "the subscribers' pages")
	if err != nil {
		return Result{}, err
	}
	origin := r.subs[0].origin
	last := origin
	for _, s := range r.subs {
		origin, last = minTime(origin, s.origin), maxTime(last, s.origin)
	}
	browserPIDs := []int{pubB.pid()}
	for _, s := range r.subs {
		browserPIDs = append(browserPIDs, s.browser.pid())
	}
	cpu0 := readCPU(serverPID, browserPIDs...)
	if err := r.until(ctx, last.Add(cfg.Duration), nil, ""); err != nil {
		return Result{}, err
	}
	cpu1 := readCPU(serverPID, browserPIDs...)
	wall := time.Since(origin).Seconds()

	// Stop the shapers first (each reads its last counters and removes its
	// cap), read the loss rules, then the browsers, the relays, the tap.
	stopShapers()
	shapers.Wait()
	for _, s := range r.subs {
		if s.link.Loss > 0 {
			var drops map[string]uint64
			drops, s.lossErr = impair.LossDrops(ctx, s.host)
			s.lossN = drops[lossTag]
		}
	}
	for _, s := range r.subs {
		s.browser.close()
	}
	pubB.close()
	stopRelays()
	relays.Wait()
	stopTap()
	<-tapDone
	stopScraper()
	<-scDone

	res = r.result(target, tp, origin, wall)
	if sc != nil {
		res.Server = sc.seconds(origin)
		if sc.failures > 0 {
			r.note("server metrics: %d of %d reads failed", sc.failures, sc.failures+len(sc.readings))
			res.Events = r.notes
		}
	}
	res.Network = netInfo
	if serverPID > 0 {
		res.ServerCPU = 100 * (cpu1.server - cpu0.server) / wall
	}
	res.BrowserCPU = 100 * (cpu1.browsers - cpu0.browsers) / wall
	res.MachineCPU = 100 * (cpu1.machine - cpu0.machine) / wall
	res.ServerRSS, res.BrowserRSS = cpu1.serverRSS, cpu1.browsersRSS
	return res, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
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
		if err := r.failed(); err != nil {
			return err
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

// failed is the first page that failed before its call was up, or whose
// browser exited.
func (r *runner) failed() error {
	check := func(who string, p *pageState) error {
		if p.fatal != "" {
			return fmt.Errorf("%w: %s: %s", ErrPage, who, p.fatal)
		}
		if p.exited {
			return fmt.Errorf("%w: %s: chromium exited (give a log directory to see why)", ErrPage, who)
		}
		return nil
	}
	if err := check("publisher", &r.pub); err != nil {
		return err
	}
	for _, s := range r.subs {
		if err := check("subscriber "+s.name, &s.page); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) note(format string, a ...any) {
	at := 0.0
	if len(r.subs) > 0 && !r.subs[0].origin.IsZero() {
		at = time.Since(r.subs[0].origin).Seconds()
	}
	r.notes = append(r.notes, fmt.Sprintf("%6.1fs ", at)+fmt.Sprintf(format, a...))
}

// handle takes one page event.
func (r *runner) handle(be browserEvent) {
	p := &r.pub
	var sub *subscriber
	for _, s := range r.subs {
		if s.name == be.who {
			sub, p = s, &s.page
		}
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
		if sub != nil && json.Unmarshal(be.ev.Raw, &s) == nil {
			sub.samples = append(sub.samples, s)
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
		r.note("%s: subscribed to %s %s (%s) after %.0f ms", be.who, v.Identity, v.Kind, v.Codec, v.Ms)
	case "first_packet":
		p.firstPacketMs = v.Ms
	case "first_frame":
		p.firstFrameMs = v.Ms
		r.note("%s: first frame after %.0f ms", be.who, v.Ms)
	case "rendered":
		p.renderedMs = v.Ms
	case "error":
		r.log.Warn("page error", "page", be.who, "msg", v.Msg)
		r.note("%s: error: %s", be.who, v.Msg)
		if (sub == nil && !p.published) || (sub != nil && !p.connected) {
			p.fatal = v.Msg
		}
	case "room":
		r.log.Info("room event", "page", be.who, "what", v.What, "reason", v.Reason)
		r.note("%s: %s %v", be.who, v.What, v.Reason)
	}
}

// result assembles what the run saw; origin is the first subscriber's
// T = 0 and wall the seconds from there to the end.
func (r *runner) result(target Target, tp *tap, origin time.Time, wall float64) Result {
	cfg := r.cfg
	originMs := float64(origin.UnixNano()) / 1e6
	for i := range r.pubs {
		r.pubs[i].T = (r.pubs[i].TS - originMs) / 1000
	}
	res := Result{
		Target: target.URL, Codec: cfg.Codec, Start: origin.UTC(), Seconds: wall,
		PublishedMs: r.pub.publishedMs, PublisherSamples: r.pubs,
	}
	res.Publisher = summarizePublisher(r.pubs, 0, wall)
	tp.with(func(ws []*wire, dropped uint64) {
		for i, s := range r.subs {
			res.Subscribers = append(res.Subscribers, r.subscriberResult(s, ws[i], dropped))
		}
	})
	res.Events = r.notes
	return res
}

// subscriberResult sums up one subscriber, on its own clock.
func (r *runner) subscriberResult(s *subscriber, w *wire, tapDropped uint64) SubscriberResult {
	originMs := float64(s.origin.UnixNano()) / 1e6
	for i := range s.samples {
		s.samples[i].T = (s.samples[i].TS - originMs) / 1000
	}
	end := time.Since(s.origin).Seconds()
	if n := len(s.samples); n > 0 {
		end = max(s.samples[n-1].T, r.cfg.Duration.Seconds())
	}
	p := s.page
	out := SubscriberResult{
		Name: s.name, Link: s.link, Start: s.origin.UTC(),
		ConnectMs: p.connectMs, SubscribedMs: p.subscribedMs, FirstPacketMs: p.firstPacketMs,
		TTFFMs: p.firstFrameMs, RenderedMs: p.renderedMs, Decoded: p.firstFrameMs > 0,
		Samples: s.samples, LossDropped: s.lossN,
	}
	if s.lossErr != nil {
		r.note("%s: %v", s.name, s.lossErr)
	}
	if !out.Decoded {
		// The 20 ms poll never saw a frame; the per-second stats may have.
		for _, smp := range s.samples {
			if smp.Video != nil && smp.Video.FramesDecoded > 0 {
				out.Decoded = true
				out.TTFFMs = smp.TS - p.connecting
				r.note("%s: no first-frame report; the first frame is taken from the per-second stats (%.0f ms, up to a second late)", s.name, out.TTFFMs)
				break
			}
		}
	}
	if out.Decoded {
		out.FirstFrameAt = (p.connecting + out.TTFFMs - originMs) / 1000
		if p.firstPacketMs > 0 {
			out.FirstKeyframeDelayMs = out.TTFFMs - p.firstPacketMs
		}
		out.Video = summarizeVideo(s.samples, out.FirstFrameAt, end)
		out.Audio = summarizeAudio(s.samples, out.FirstFrameAt, end)
	}
	if s.relay != nil {
		st := s.relay.Stats()
		out.Relay = &st
	}
	var delivered []qdiscCounters
	if s.shaper != nil {
		delivered = s.shaper.perSec
	}
	out.Wire = wireResult(w, tapDropped, s.samples, r.pubs)
	out.Series = seriesOf(s.samples, w.downBytes, delivered, s.link.Shaping, int(end))
	if s.shaper != nil {
		out.Phases = s.shaper.phases()
		for i := range out.Phases {
			ph := &out.Phases[i]
			var bytes uint64
			for k := int(ph.From); k < int(math.Ceil(ph.To)) && k < len(w.downBytes); k++ {
				bytes += w.downBytes[k]
			}
			if d := ph.To - ph.From; d > 0 {
				ph.OfferedKbps = float64(bytes) * 8 / 1000 / d
			}
			ph.Video = summarizeVideo(s.samples, max(ph.From, out.FirstFrameAt), ph.To)
		}
	}
	out.Recoveries, out.BackToTop = recoveries(out.Series, s.samples, s.link.Shaping, float64(r.cfg.Height), end)
	return out
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
