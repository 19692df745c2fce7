package security

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/controlplane/webhook"
)

// TestEmbedTokenIsSingleUseAndShortLived: the integrator's backend mints,
// for its signed-in user, a token the iframe's URL carries instead of the
// user's refresh token. It joins once, as that user; a copy of the URL
// (history, a log, a Referer) is dead after that use or a minute.
func TestEmbedTokenIsSingleUseAndShortLived(t *testing.T) {
	clk := newClock()
	s := start(t, opts{clock: clk})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	rm := s.room(t, owner, s.space(t, owner, false), nil)
	mint := func(body any) reply {
		return s.do(t, "POST", "/v1/spaces/"+rm.space+"/rooms/"+rm.id+"/embed-token", owner.userToken, body)
	}
	r := mint(nil)
	if r.status != http.StatusOK {
		t.Fatalf("embed-token = %d %s", r.status, r.body)
	}
	tok, page := r.str(t, "embedToken"), r.str(t, "url")
	exp, _ := time.Parse(time.RFC3339, r.str(t, "expiresAt"))
	if !strings.HasPrefix(page, s.base+"/room/"+rm.alias+"?embedToken=") || exp.After(clk.Now().Add(61*time.Second)) {
		t.Fatalf("url %q, expires %s", page, exp)
	}
	a := s.join(t, rm, "", map[string]any{"embedToken": tok}).answer(t)
	if a.Identity != "u_"+owner.userID || a.Role != "owner" {
		t.Fatalf("the embed token joined as %s (%s)", a.Identity, a.Role)
	}
	if r := s.join(t, rm, "", map[string]any{"embedToken": tok}); r.status != http.StatusGone || r.str(t, "code") != "embed_token_used" {
		t.Fatalf("second use = %d %s, want 410 embed_token_used", r.status, r.body)
	}
	late := mint(map[string]any{"ttl": 30}).str(t, "embedToken")
	clk.Add(31 * time.Second)
	if r := s.join(t, rm, "", map[string]any{"embedToken": late}); r.status != http.StatusGone || r.str(t, "code") != "embed_token_expired" {
		t.Fatalf("use after expiry = %d %s, want 410 embed_token_expired", r.status, r.body)
	}
	if r := mint(map[string]any{"ttl": 3600}); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("an hour-long embed token = %d %s, want 422", r.status, r.body)
	}
	// Signing out (revoking the sign-in behind it) kills unused embed
	// tokens too.
	unused := mint(nil).str(t, "embedToken")
	s.must(t, 200, "POST", "/v1/auth/revoke", "", map[string]string{"token": owner.userRefresh})
	if r := s.join(t, rm, "", map[string]any{"embedToken": unused}); r.status != http.StatusUnauthorized {
		t.Fatalf("an embed token of a revoked sign-in = %d %s, want 401", r.status, r.body)
	}
}

// TestRoomPageRemovesTokensFromAddressBar loads the room page in Chromium
// with the credentials a link or an embedding carries: once the page has
// read them they are gone from the address bar (and the history entry),
// the other parameters stay.
func TestRoomPageRemovesTokensFromAddressBar(t *testing.T) {
	b := startBrowser(t)
	s := start(t, opts{page: true})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	rm := s.room(t, owner, s.space(t, owner, false), nil)
	tok, _ := s.link(t, owner, rm, nil)
	for name, query := range map[string]string{
		"accessToken":  "participantName=Ada&accessToken=" + tok,
		"embedToken":   "embedToken=" + url.QueryEscape("e.y.z") + "&participantName=Ada",
		"refreshToken": "participantName=Ada&refreshToken=r.e.f",
	} {
		t.Run(name, func(t *testing.T) {
			p := b.open(t, s.base+"/room/"+rm.alias+"?"+query+"#x")
			var href string
			eventually(t, "the page script to run", 10*time.Second, func() bool {
				v, err := p.eval(`window.__spacecast !== undefined ? location.href : ""`)
				href, _ = v.(string)
				return err == nil && href != ""
			})
			u, err := url.Parse(href)
			if err != nil {
				t.Fatal(err)
			}
			if q := u.Query(); q.Has("accessToken") || q.Has("embedToken") || q.Has("refreshToken") || q.Get("participantName") != "Ada" || u.Fragment != "x" {
				t.Fatalf("address bar after the page read it: %s", href)
			}
		})
	}
}

// TestTokensInQueryStringsAreNeverLogged: what a URL's query carries (the
// page's tokens, a webhook URL's secret) is kept out of every log line the
// control plane writes: its access log, fasthttp's own messages, webhook
// delivery failures.
func TestTokensInQueryStringsAreNeverLogged(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := start(t, opts{page: true, logger: log})
	owner := s.newUser(t, s.newClient(t, "acme"), "owner@example.com")
	rm := s.room(t, owner, s.space(t, owner, false), nil)
	for _, path := range []string{
		"/room/" + rm.alias + "?accessToken=SECRET-A&refreshToken=SECRET-R&embedToken=SECRET-E",
		"/v1/rooms/" + rm.alias + "/join?access_token=SECRET-Q",
		"/assets/app.js?token=SECRET-S",
	} {
		s.send(t, req{method: "POST", path: path, body: "{"})
		s.send(t, req{method: "GET", path: path})
	}
	// A webhook whose URL carries the receiver's secret in its query, and
	// whose deliveries fail (its host is not a public address).
	s.must(t, 201, "POST", "/v1/spaces/"+rm.space+"/webhook", owner.userToken, map[string]any{"url": "http://127.0.0.1:9/hook?token=SECRET-W"})
	cfg := webhook.DefaultConfig()
	cfg.Retries = 0
	d, err := webhook.New(cfg, webhook.Deps{Store: s.st, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	d.Deliver(webhook.Event{Name: webhook.CallStarted, RoomID: store.RoomID(rm.id)})
	eventually(t, "the delivery to fail", 10*time.Second, func() bool { return strings.Contains(logs.String(), "webhook delivery failed") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "http") {
		t.Fatal("no access log line was written: the test checks nothing")
	}
	if i := strings.Index(logs.String(), "SECRET"); i >= 0 {
		line := logs.String()[strings.LastIndex(logs.String()[:i], "\n")+1:]
		t.Fatalf("a query string's secret was logged: %s", line[:strings.IndexByte(line, '\n')+1])
	}
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
