package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/controlplane/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

type fakeStore struct {
	rooms  map[string]store.Room
	spaces map[store.SpaceID]store.Space
}

func (f fakeStore) GetRoomByAlias(_ context.Context, alias string) (store.Room, error) {
	r, ok := f.rooms[alias]
	if !ok {
		return store.Room{}, store.ErrNotFound
	}
	return r, nil
}

func (f fakeStore) GetSpace(_ context.Context, client store.ClientID, id store.SpaceID) (store.Space, error) {
	s, ok := f.spaces[id]
	if !ok || s.ClientID != client {
		return store.Space{}, store.ErrNotFound
	}
	return s, nil
}

func get(t *testing.T, h fasthttp.RequestHandler, uri string) *fasthttp.Response {
	t.Helper()
	var c fasthttp.RequestCtx
	c.Request.SetRequestURI(uri)
	c.Request.Header.SetMethod("GET")
	h(&c)
	resp := &fasthttp.Response{}
	c.Response.CopyTo(resp)
	return resp
}

func newPage(t *testing.T) *Page {
	t.Helper()
	st := fakeStore{
		rooms: map[string]store.Room{
			"abc123": {ID: "r1", ClientID: "c1", SpaceID: "s1", Alias: "abc123"},
			"open":   {ID: "r2", ClientID: "c1", SpaceID: "s2", Alias: "open"},
		},
		spaces: map[store.SpaceID]store.Space{
			"s1": {ID: "s1", ClientID: "c1", AllowedOrigins: []string{"https://school.example", "https://bad.example; script-src *"}},
			"s2": {ID: "s2", ClientID: "c1"},
		},
	}
	p, err := New(Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoomPageFraming(t *testing.T) {
	h := newPage(t).Handler()
	tests := []struct {
		name        string
		uri         string
		wantAnc     string
		wantParents string
	}{
		{"allowed origins of the space", "/room/abc123?accessToken=x", "frame-ancestors 'self' https://school.example", `"parentOrigins":["https://school.example","https://bad.example; script-src *"]`},
		{"space without origins", "/room/open", "frame-ancestors 'self'", `"parentOrigins":[]`},
		{"unknown room", "/room/nope", "frame-ancestors 'self'", `"parentOrigins":[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, h, tt.uri)
			if r.StatusCode() != 200 {
				t.Fatalf("status %d", r.StatusCode())
			}
			csp := string(r.Header.Peek("Content-Security-Policy"))
			if !strings.HasSuffix(csp, tt.wantAnc) {
				t.Fatalf("CSP %q does not end with %q", csp, tt.wantAnc)
			}
			if strings.Contains(csp, "bad.example") {
				t.Fatalf("a malformed origin reached the CSP: %q", csp)
			}
			body := string(r.Body())
			if !strings.Contains(body, tt.wantParents) || !strings.Contains(body, `/assets/app.js`) {
				t.Fatalf("page config missing %s", tt.wantParents)
			}
		})
	}
}

func TestRoomPageEscapesConfig(t *testing.T) {
	h := newPage(t).Handler()
	r := get(t, h, "/room/%3C%2Fscript%3E")
	if strings.Contains(string(r.Body()), "</script><") && strings.Count(string(r.Body()), "</script>") > 3 {
		t.Fatalf("alias broke out of the config script: %s", r.Body())
	}
	if r := get(t, h, "/room/a/b"); r.StatusCode() != 404 {
		t.Fatalf("nested path: %d", r.StatusCode())
	}
}

func TestAssets(t *testing.T) {
	h := newPage(t).Handler()
	for name, ct := range map[string]string{"app.js": "javascript", "style.css": "text/css", "livekit-client.umd.js": "javascript"} {
		r := get(t, h, "/assets/"+name)
		if r.StatusCode() != 200 || !strings.Contains(string(r.Header.ContentType()), ct) || len(r.Body()) == 0 {
			t.Fatalf("%s: %d %s", name, r.StatusCode(), r.Header.ContentType())
		}
	}
	for _, bad := range []string{"/assets/SOURCES.sha256", "/assets/../page.html", "/assets/", "/elsewhere"} {
		if r := get(t, h, bad); r.StatusCode() != 404 {
			t.Fatalf("%s: %d, want 404", bad, r.StatusCode())
		}
	}
}

// sourcesHash must match sourcesHash in app/build.mjs.
func sourcesHash(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("app/src")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("app/src", n))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(n + "\n"))
		h.Write(b)
	}
	lock, err := os.ReadFile("app/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	h.Write([]byte("package-lock.json\n"))
	h.Write(lock)
	return hex.EncodeToString(h.Sum(nil))
}

// TestDistIsFresh fails when app/src changed but dist was not rebuilt
// (cd controlplane/web/app && npm run build).
func TestDistIsFresh(t *testing.T) {
	want, err := os.ReadFile("dist/SOURCES.sha256")
	if err != nil {
		t.Fatal(err)
	}
	if got := sourcesHash(t); strings.TrimSpace(string(want)) != got {
		t.Fatalf("dist is stale: run `npm run build` in controlplane/web/app (sources %s, dist built from %s)", got, strings.TrimSpace(string(want)))
	}
}

func TestEmbedCode(t *testing.T) {
	got := EmbedCode(`https://meet.example/room/abc123?participantName=Ada&accessToken=t"x`)
	golden := filepath.Join("testdata", "embed.golden.html")
	if *update {
		if err := os.WriteFile(golden, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != got {
		t.Fatalf("EmbedCode = %s\nwant %s", got, want)
	}
	for _, f := range []string{"camera", "microphone", "display-capture", "fullscreen", "autoplay", "clipboard-write", "picture-in-picture", "screen-wake-lock"} {
		if !strings.Contains(got, f) {
			t.Fatalf("allow list lacks %s", f)
		}
	}
}
