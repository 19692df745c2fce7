package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/testenv"
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
	for name, ct := range map[string]string{"app.js": "javascript", "style.css": "text/css"} {
		r := get(t, h, "/assets/"+name)
		if r.StatusCode() != 200 || !strings.Contains(string(r.Header.ContentType()), ct) || len(r.Body()) == 0 {
			t.Fatalf("%s: %d %s", name, r.StatusCode(), r.Header.ContentType())
		}
		if len(r.Header.Peek("Content-Encoding")) != 0 {
			t.Fatalf("%s: compressed for a client that did not ask", name)
		}
		etag := string(r.Header.Peek("ETag"))
		if etag == "" {
			t.Fatalf("%s: no ETag", name)
		}
		var c fasthttp.RequestCtx
		c.Request.SetRequestURI("/assets/" + name)
		c.Request.Header.Set("Accept-Encoding", "br, gzip")
		h(&c)
		if string(c.Response.Header.Peek("Content-Encoding")) != "gzip" {
			t.Fatalf("%s: not gzipped for a gzip client", name)
		}
		zr, err := gzip.NewReader(bytes.NewReader(c.Response.Body()))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(plain, r.Body()) {
			t.Fatalf("%s: gzip body does not inflate to the asset (%v)", name, err)
		}
		var c2 fasthttp.RequestCtx
		c2.Request.SetRequestURI("/assets/" + name)
		c2.Request.Header.Set("If-None-Match", `W/"other", `+etag)
		h(&c2)
		if c2.Response.StatusCode() != fasthttp.StatusNotModified || len(c2.Response.Body()) != 0 {
			t.Fatalf("%s: revalidation: %d", name, c2.Response.StatusCode())
		}
	}
	for _, bad := range []string{"/assets/SOURCES.sha256", "/assets/../page.html", "/assets/", "/assets/main.ts", "/elsewhere"} {
		if r := get(t, h, bad); r.StatusCode() != 404 {
			t.Fatalf("%s: %d, want 404", bad, r.StatusCode())
		}
	}
}

const rebuild = "rebuild it: cd controlplane/web/app && npm ci && npm run build, then commit dist/"

// inputsHash must match inputsHash in app/build.mjs: for each build input,
// its path (relative to app/) and a newline, then its bytes.
func inputsHash(t *testing.T) string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("app/src", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(filepath.ToSlash(p), "app/"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	files = append(files, "package.json", "package-lock.json", "tsconfig.json", "build.mjs")
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("app", f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f + "\n"))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recorded reads SOURCES.sha256 in dir: name → hash ("inputs" for the
// build inputs, then one line per output file).
func recorded(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "SOURCES.sha256"))
	if err != nil {
		t.Fatalf("%v: %s", err, rebuild)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SOURCES.sha256: bad line %q: %s", line, rebuild)
		}
		out[name] = sum
	}
	return out
}

// TestDistIsFresh fails, without npm, when app's sources, package files,
// tsconfig or build script changed since dist was built, or when a file in
// dist is not the one the build wrote.
func TestDistIsFresh(t *testing.T) {
	rec := recorded(t, "dist")
	if got := inputsHash(t); rec["inputs"] != got {
		t.Fatalf("dist is stale: app/ changed since the last build (inputs %s, dist built from %s); %s", got, rec["inputs"], rebuild)
	}
	entries, err := os.ReadDir("dist")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "SOURCES.sha256" {
			continue
		}
		b, err := os.ReadFile(filepath.Join("dist", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if want, ok := rec[e.Name()]; !ok || want != hex.EncodeToString(sum[:]) {
			t.Fatalf("dist/%s is not what the build wrote (edited by hand, or left from an older build); %s", e.Name(), rebuild)
		}
		delete(rec, e.Name())
	}
	delete(rec, "inputs")
	for name := range rec {
		t.Fatalf("dist/%s is missing; %s", name, rebuild)
	}
}

// TestBundleRebuilds typechecks the sources and rebuilds the bundle into a
// temporary directory: it must come out byte for byte as committed. It
// needs node and app/node_modules (npm ci); CI has both.
func TestBundleRebuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tsc and esbuild")
	}
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat("app/node_modules/esbuild")
	testenv.Need(t, "node and app/node_modules (npm ci in controlplane/web/app)", errors.Join(nodeErr, modErr))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := t.TempDir()
	for _, args := range [][]string{
		{"node_modules/.bin/tsc", "--noEmit", "-p", "."},
		{"node", "build.mjs", "--out", out},
	} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = "app"
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	committed := recorded(t, "dist")
	for name, sum := range recorded(t, out) {
		if committed[name] != sum {
			t.Errorf("a fresh build's %s differs from the committed one; %s", name, rebuild)
		}
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

// TestRegionProbe runs the page's unit checks of the region probe
// (app/test/regions.test.ts: the bound, the abort of what is too far, the
// session cache) in node, on a fake network and clock. It needs node and
// app/node_modules (npm ci).
func TestRegionProbe(t *testing.T) {
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat("app/node_modules/esbuild")
	testenv.Need(t, "node and app/node_modules (npm ci in controlplane/web/app)", errors.Join(nodeErr, modErr))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := filepath.Join(t.TempDir(), "regions.test.mjs")
	for _, args := range [][]string{
		{"node_modules/.bin/esbuild", "test/regions.test.ts", "--bundle", "--platform=node", "--format=esm", "--log-level=warning", "--outfile=" + script},
		{"node", script},
	} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir = "app"
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
}
