package browser

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/web"
	"github.com/spacecast/spacecast/internal/netns"
)

// noRooms is a store that knows no room: the page is served with no
// framing origins, which this test does not need.
type noRooms struct{}

func (noRooms) GetRoomByAlias(context.Context, string) (store.Room, error) {
	return store.Room{}, store.ErrNotFound
}

func (noRooms) GetSpace(context.Context, store.ClientID, store.SpaceID) (store.Space, error) {
	return store.Space{}, store.ErrNotFound
}

// TestRegionProbeJoin serves the real room page from a fake control plane
// whose GET /v1/regions lists two regions: "near" answers its probe at
// once, "far" 120 ms late. The page's join request must carry both RTTs,
// near's below far's and far's at least the 120 ms. (The bound on the
// probe and on the join's wait is checked in controlplane/web's
// TestRegionProbe, on a fake clock.)
func TestRegionProbeJoin(t *testing.T) {
	chromium := needDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	h, err := n.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := web.New(web.Deps{Store: noRooms{}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(n.Gateway().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	const farMs = 120
	joins := make(chan []byte, 4)
	page := pg.Handler()
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/v1/regions":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"regions":[{"name":"near","probeUrls":["`+base+`/probe/near"]},{"name":"far","probeUrls":["`+base+`/probe/far"]}]}`)
		case p == "/probe/near":
			w.WriteHeader(http.StatusNoContent)
		case p == "/probe/far":
			time.Sleep(farMs * time.Millisecond)
			w.WriteHeader(http.StatusNoContent)
		case strings.HasPrefix(p, "/v1/rooms/") && strings.HasSuffix(p, "/join"):
			b, _ := io.ReadAll(r.Body)
			joins <- b
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"code":"not_found"}`)
		default:
			servePage(w, r, page)
		}
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })

	s := &stack{host: h, api: base}
	d := s.startDriver(t, ctx, chromium, "chromium")
	p := d.open(t, "probe", base+"/room/abc123?participantName=Ada&probe=1", 800, 600)
	// The probe runs while the participant is on the pre-join step; once it
	// has kept its RTTs for the session, the participant joins.
	p.until(t, ctx, "showed the pre-join step", func(st state) bool { return st.Screen == "prejoin" })
	for kept := false; !kept; {
		p.eval(t, `!!sessionStorage.getItem('spacecast.rtts')`, &kept)
		select {
		case <-ctx.Done():
			t.Fatal("the page never kept its RTTs")
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.click(t, "#pre-join-btn")
	var body []byte
	select {
	case body = <-joins:
	case <-ctx.Done():
		p.shot(t, "failed-probe")
		t.Fatal("the page never sent its join")
	}
	var req struct {
		RTTs map[string]int64 `json:"rtts"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("join body %s: %v", body, err)
	}
	near, okN := req.RTTs["near"]
	far, okF := req.RTTs["far"]
	if !okN || !okF || near >= far || far < farMs {
		t.Fatalf("join rtts = %v (body %s), want near below far and far at least %d ms", req.RTTs, body, farMs)
	}
	t.Logf("join rtts: %v", req.RTTs)
	p.until(t, ctx, "showed the join's refusal", func(st state) bool { return st.Code == "not_found" })
}

// servePage answers r with the page's fasthttp handler (GETs only).
func servePage(w http.ResponseWriter, r *http.Request, h fasthttp.RequestHandler) {
	var req fasthttp.Request
	req.Header.SetMethod(r.Method)
	req.SetRequestURI(r.URL.RequestURI())
	var c fasthttp.RequestCtx
	c.Init(&req, nil, nil)
	h(&c)
	for k, v := range c.Response.Header.All() {
		w.Header().Add(string(k), string(v))
	}
	w.WriteHeader(c.Response.StatusCode())
	_, _ = w.Write(c.Response.Body())
}

// mediaProbe runs before the room page's own script: it keeps the page's
// peer connections and the URLs of its WebSockets, and window.__media()
// sums what the page receives from getStats: decoded video frames and
// freezes, audio samples received and concealed, and the audio jitter
// buffer's delay (seconds, summed over the samples it emitted).
const mediaProbe = `(() => {
  const pcs = [];
  const sockets = [];
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(...a) { super(...a); pcs.push(this); }
  };
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(url, ...a) { super(url, ...a); sockets.push(String(url)); }
  };
  window.__sockets = () => sockets.slice();
  window.__media = async () => {
    const m = { framesDecoded: 0, audioSamples: 0, concealedSamples: 0, audioBufferDelay: 0, audioEmitted: 0, freezes: 0 };
    for (const pc of pcs) {
      if (pc.connectionState === 'closed') continue;
      (await pc.getStats()).forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind === 'video') {
          m.framesDecoded += s.framesDecoded || 0;
          m.freezes += s.freezeCount || 0;
        }
        if (s.kind === 'audio') {
          m.audioSamples += s.totalSamplesReceived || 0;
          m.concealedSamples += s.concealedSamples || 0;
          m.audioBufferDelay += s.jitterBufferDelay || 0;
          m.audioEmitted += s.jitterBufferEmittedCount || 0;
        }
      });
    }
    return m;
  };
})()`

// received is what window.__media() answers.
type received struct {
	FramesDecoded    float64 `json:"framesDecoded"`
	AudioSamples     float64 `json:"audioSamples"`
	ConcealedSamples float64 `json:"concealedSamples"`
	AudioBufferDelay float64 `json:"audioBufferDelay"`
	AudioEmitted     float64 `json:"audioEmitted"`
	Freezes          float64 `json:"freezes"`
}

// TestRoomAcrossRegionsInBrowsers: a fleet of a control plane and an edge
// in each of two regions (tests/fleet's setup: processes in namespaces of
// their own, gossip pools per region and a WAN pool, a relay between the
// edges). Two Chromium pages open links to one room; each page's probe
// finds the other region's edge slow (its requests to that edge are held
// back 200 ms, as a page far from it would see), so the join puts Ann on
// region a's edge and Ben on region b's, which the signalling connection
// each page opened shows. Across the relay, each decodes the other's video
// and plays the other's audio with little concealment, and a chat message
// sent by each reaches the other.
func TestRoomAcrossRegionsInBrowsers(t *testing.T) {
	chromium := needDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s, edges := startRegions(t, ctx, "a", "b")
	ea, eb := edges[0], edges[1]
	room := s.room(t, map[string]any{"name": "Across regions", "isPublic": false, "type": "lesson", "isChatAllowed": true})
	d := s.startDriver(t, ctx, chromium, "chromium")

	const farMs = 200
	open := func(name, who string, far fleetEdge) *page {
		link := s.link(t, room, who, "user")
		sep := "?"
		if strings.Contains(link, "?") {
			sep = "&"
		}
		p := d.openWith(t, name, link+sep+"probe=1", 960, 600, map[string]any{
			"init":  mediaProbe,
			"delay": map[string]int{"http://" + far.host.Addr().String() + ":" + fleetSignalPort + "/probe": farMs},
		})
		p.until(t, ctx, "showed the pre-join step", func(st state) bool { return st.Screen == "prejoin" })
		// Join once the probe has kept its RTTs (an autojoin would not wait
		// for a far region's answer: the join waits for the probe 300 ms).
		for kept := false; !kept; {
			p.eval(t, `!!sessionStorage.getItem('spacecast.rtts')`, &kept)
			select {
			case <-ctx.Done():
				t.Fatalf("%s: the page never kept its RTTs", name)
			case <-time.After(100 * time.Millisecond):
			}
		}
		var rtts string
		p.eval(t, `sessionStorage.getItem('spacecast.rtts')`, &rtts)
		t.Logf("%s's probe: %s", name, rtts)
		p.click(t, "#pre-join-btn")
		return p
	}
	ann := open("ann", "Ann Lee", eb)
	ben := open("ben", "Ben Ortiz", ea)
	decoding := func(st state) bool {
		return st.Screen == "call" && st.ToolbarReady && st.Tiles == 2 && st.FramesDecoded > 0
	}
	ann.until(t, ctx, "decoded Ben's video", decoding)
	ben.until(t, ctx, "decoded Ann's video", decoding)

	// Each page's signalling went to the edge of its near region.
	for _, c := range []struct {
		p    *page
		near fleetEdge
		far  fleetEdge
	}{{ann, ea, eb}, {ben, eb, ea}} {
		var sockets []string
		c.p.eval(t, `window.__sockets()`, &sockets)
		on, off := false, false
		for _, u := range sockets {
			on = on || strings.HasPrefix(u, c.near.signal()+"/rtc")
			off = off || strings.HasPrefix(u, c.far.signal())
		}
		if !on || off {
			t.Fatalf("%s's signalling went to %v, want %s (%s) only", c.p.name, sockets, c.near.node, c.near.signal())
		}
	}

	// Media keeps flowing both ways across the relay: over a window, each
	// page decodes more frames and receives audio, and conceals little.
	media := func(p *page) received {
		var m received
		p.eval(t, `window.__media()`, &m)
		return m
	}
	a0, b0 := media(ann), media(ben)
	time.Sleep(3 * time.Second) // a window of real media
	a1, b1 := media(ann), media(ben)
	for _, c := range []struct {
		name   string
		m0, m1 received
	}{{"ann", a0, a1}, {"ben", b0, b1}} {
		frames := c.m1.FramesDecoded - c.m0.FramesDecoded
		samples := c.m1.AudioSamples - c.m0.AudioSamples
		concealed := c.m1.ConcealedSamples - c.m0.ConcealedSamples
		var bufferMs float64
		if n := c.m1.AudioEmitted - c.m0.AudioEmitted; n > 0 {
			bufferMs = 1000 * (c.m1.AudioBufferDelay - c.m0.AudioBufferDelay) / n
		}
		t.Logf("%s over 3 s: %.0f frames decoded, %.0f freezes, %.0f audio samples received, %.0f concealed, audio jitter buffer %.0f ms",
			c.name, frames, c.m1.Freezes-c.m0.Freezes, samples, concealed, bufferMs)
		if frames < 15 {
			t.Errorf("%s decoded %.0f frames in 3 s: the remote video is not flowing", c.name, frames)
		}
		// 48 kHz: 3 s is 144,000 samples; half of it would be a broken call.
		if samples < 72000 {
			t.Errorf("%s received %.0f audio samples in 3 s: the remote audio is not flowing", c.name, samples)
		}
		if samples > 0 && concealed/samples > 0.2 {
			t.Errorf("%s concealed %.0f of %.0f audio samples", c.name, concealed, samples)
		}
	}
	ann.shot(t, "across-regions-ann")

	ann.click(t, "#btn-chat")
	ann.op(t, "fill", "selector", "#chat-input", "text", "Hello from region a")
	ann.op(t, "press", "selector", "#chat-input", "key", "Enter")
	ben.until(t, ctx, "got Ann's message", func(st state) bool { return hasChat(st.Chat, "Ann Lee", "Hello from region a") })
	ben.click(t, "#btn-chat")
	ben.op(t, "fill", "selector", "#chat-input", "text", "Hello back from region b")
	ben.op(t, "press", "selector", "#chat-input", "key", "Enter")
	ann.until(t, ctx, "got Ben's message", func(st state) bool { return hasChat(st.Chat, "Ben Ortiz", "Hello back from region b") })
}
