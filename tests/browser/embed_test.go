package browser

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/web"
)

// hostScript is the embedding site's script: it keeps what the room page
// posts in window.got and sends the page a command with send(command).
const hostScript = `<script>
const f = document.querySelector('iframe');
const target = new URL(f.src).origin;
window.got = [];
window.addEventListener('message', (ev) => {
  if (ev.origin !== target) return;
  window.got.push(typeof ev.data === 'string' ? ev.data : ev.data.type);
});
window.send = (command) => f.contentWindow.postMessage({ type: 'spacecast:command', command }, target);
</script>`

// hostSite serves a page embedding src with web.EmbedCode, on its own
// origin on the namespace gateway.
func hostSite(t *testing.T, gw string, src string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	page := `<!doctype html><title>An integrator's site</title><body style="margin:0;font:15px system-ui;background:#f4f5f7">` +
		`<h1 style="font-size:18px;margin:12px 16px">Course: Design basics</h1><div style="height:560px;margin:0 16px">` +
		web.EmbedCode(src) + `</div>` + hostScript
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return "http://" + ln.Addr().String()
}

// got is what the host page has received from the room page.
func got(t *testing.T, host *page) []string {
	t.Helper()
	var out []string
	host.eval(t, `window.got || []`, &out)
	return out
}

// untilGot polls the host page until it has received msg.
func untilGot(t *testing.T, ctx context.Context, host *page, msg string) {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		g := got(t, host)
		if slices.Contains(g, msg) {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			host.shot(t, "failed-"+host.name)
			t.Fatalf("the host page never got %s; it got %q", msg, g)
		}
	}
}

// TestEmbed: a site on an allowed origin frames the room page, gets its
// events, mutes the participant's microphone with a command and gets
// ld_finish_call when it makes the page leave; a site on another origin
// cannot frame the page.
func TestEmbed(t *testing.T) {
	chromium := needDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s := startStack(t, ctx)
	gw, _, err := net.SplitHostPort(strings.TrimPrefix(s.api, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	room := s.room(t, map[string]any{"name": "Embedded", "isPublic": false, "type": "lesson", "isChatAllowed": true, "isScreensharingAllowed": true})

	// Host sites start before the allowlist is set: their origins are known.
	allowed := hostSite(t, gw, probeURL(s.link(t, room, "Ann", "user")))
	other := hostSite(t, gw, probeURL(s.link(t, room, "Eve", "user")))
	s.call(t, "PUT", "/spaces/"+s.space+"/allowed-origins", map[string]any{"origins": []string{allowed}}, nil)
	d := s.startDriver(t, ctx, chromium, "chromium", allowed, other)

	t.Run("allowed origin", func(t *testing.T) {
		host := d.open(t, "host", allowed, 1280, 800)
		frame := host.in("/room/")
		untilGot(t, ctx, host, "spacecast:joined")
		frame.until(t, ctx, "had the microphone on", func(st state) bool { return st.Screen == "call" && st.Microphone && st.Camera })
		host.shot(t, "embedded")
		host.op(t, "eval", "js", `window.send('mute-microphone')`)
		frame.until(t, ctx, "muted on the parent's command", func(st state) bool { return !st.Microphone })
		host.op(t, "eval", "js", `window.send('leave')`)
		untilGot(t, ctx, host, "ld_finish_call")
		g := got(t, host)
		want := []string{"spacecast:ready", "spacecast:joined", "spacecast:left", "ld_finish_call"}
		for _, w := range want {
			if !slices.Contains(g, w) {
				t.Fatalf("host got %q, want %q", g, want)
			}
		}
		if i, j := slices.Index(g, "spacecast:left"), slices.Index(g, "ld_finish_call"); i > j {
			t.Errorf("ld_finish_call came before spacecast:left: %q", g)
		}
		host.shot(t, "embedded-left")
	})

	t.Run("other origin", func(t *testing.T) {
		host := d.open(t, "other", other, 1280, 800)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			var frames []string
			if err := jsonOf(host.op(t, "frames"), &frames); err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(frames, func(u string) bool { return strings.HasPrefix(u, "chrome-error:") }) {
				break
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("Chromium did not refuse to frame the page; frames %q", frames)
			}
		}
		if g := got(t, host); len(g) != 0 {
			t.Fatalf("the room page ran inside a frame on %s, outside the allowlist: it posted %q", other, g)
		}
		host.shot(t, "foreign-origin")
	})
}
