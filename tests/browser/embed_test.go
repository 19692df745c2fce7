package browser

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/web"
)

// hostScript is the embedding site's script: it logs what the room page
// posts, and once joined sends mute-microphone every second, then leave.
const hostScript = `<script>
const f = document.querySelector('iframe');
const target = new URL(f.src).origin;
let n = 0;
window.addEventListener('message', (ev) => {
  if (ev.origin !== target) return;
  console.log('HOST ' + JSON.stringify(ev.data));
  if (ev.data && ev.data.type === 'spacecast:joined') {
    const iv = setInterval(() => {
      n++;
      f.contentWindow.postMessage({ type: 'spacecast:command', command: n < 6 ? 'mute-microphone' : 'leave' }, target);
      if (n >= 6) clearInterval(iv);
    }, 1000);
  }
});
</script>`

// hostSite serves a page embedding src with web.EmbedCode, on its own
// origin on the namespace gateway.
func hostSite(t *testing.T, gw string, src string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	page := "<!doctype html><title>host</title><body>" + web.EmbedCode(src) + hostScript
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return "http://" + ln.Addr().String()
}

// TestEmbed: a site on an allowed origin frames the room page, mutes the
// participant's microphone with a command and gets ld_finish_call when it
// makes the page leave; a site on another origin cannot frame the page.
func TestEmbed(t *testing.T) {
	chromium := need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	s := startStack(t, ctx)
	gw, _, err := net.SplitHostPort(s.api[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	room := s.room(t, map[string]any{"name": "Embedded", "isPublic": false, "type": "lesson", "isChatAllowed": true, "isScreensharingAllowed": true})

	// Host sites start before the allowlist is set: their origins are known.
	allowed := hostSite(t, gw, probeURL(s.link(t, room, "Ann", "user")))
	other := hostSite(t, gw, probeURL(s.link(t, room, "Eve", "user")))
	s.call(t, "PUT", "/spaces/"+s.space+"/allowed-origins", map[string]any{"origins": []string{allowed}}, nil)

	t.Run("allowed origin", func(t *testing.T) {
		b := s.open(t, ctx, chromium, "host", allowed, allowed)
		wait(t, ctx, "embedded", b, func(probe) bool { return b.hostGot(`spacecast:joined`) })
		wait(t, ctx, "embedded", b, func(p probe) bool {
			b.mu.Lock()
			on := b.micOn
			b.mu.Unlock()
			return on && p.Screen == "call" && !p.Microphone
		})
		wait(t, ctx, "embedded", b, func(probe) bool { return b.hostGot(`ld_finish_call`) })
		if !b.hostGot(`spacecast:ready`) || !b.hostGot(`spacecast:left`) {
			b.mu.Lock()
			defer b.mu.Unlock()
			t.Fatalf("host got %q, want ready, joined, left and ld_finish_call", b.host)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.refused {
			t.Fatal("Chromium refused to frame the page for an allowed origin")
		}
	})

	t.Run("other origin", func(t *testing.T) {
		b := s.open(t, ctx, chromium, "other", other, other)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			b.mu.Lock()
			refused, seen, host := b.refused, b.seen, len(b.host)
			b.mu.Unlock()
			if seen || host > 0 {
				t.Fatalf("the room page ran inside a frame on %s, outside the allowlist", other)
			}
			if refused {
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatal("Chromium did not report refusing to frame the page")
			}
		}
	})
}
