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
