package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"log/slog"
	"mime"
	"path"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/spacecast/spacecast/controlplane/store"
)

//go:embed page.html
var pageHTML []byte

// dist is the page's built bundle (app/build.mjs; committed, so go build
// needs no npm).
//
//go:embed dist
var assetFS embed.FS

// Lookup is what the page needs of the store: the room behind an alias and
// its space (for the allowed framing origins).
type Lookup interface {
	GetRoomByAlias(ctx context.Context, alias string) (store.Room, error)
	GetSpace(ctx context.Context, client store.ClientID, id store.SpaceID) (store.Space, error)
}

// Deps are what the page is built on.
type Deps struct {
	Store  Lookup
	Logger *slog.Logger
}

// Page serves /room/{alias} and /assets/*.
type Page struct {
	store  Lookup
	log    *slog.Logger
	assets map[string]asset
}

// asset is one file of dist, with its gzip form and validator made once.
type asset struct {
	contentType string
	etag        string
	raw         []byte
	gzip        []byte // nil when compressing does not pay
}

// New builds the page handler.
func New(deps Deps) (*Page, error) {
	if deps.Store == nil {
		return nil, errors.New("web: Deps.Store is required")
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Page{store: deps.Store, log: log.With("component", "web"), assets: assets}, nil
}

// loadAssets reads dist and compresses what compresses.
func loadAssets() (map[string]asset, error) {
	entries, err := fs.ReadDir(assetFS, "dist")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	out := make(map[string]asset, len(entries))
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "SOURCES.sha256" {
			continue
		}
		b, err := fs.ReadFile(assetFS, "dist/"+name)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		a := asset{contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, raw: b}
		var z bytes.Buffer
		w, err := gzip.NewWriterLevel(&z, gzip.BestCompression)
		if err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
		if _, err := w.Write(b); err != nil {
			return nil, fmt.Errorf("web: gzip %s: %w", name, err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("web: gzip %s: %w", name, err)
		}
		if z.Len() < len(b)*9/10 {
			a.gzip = z.Bytes()
		}
		out[name] = a
	}
	return out, nil
}

// Handler serves the page and its assets.
func (p *Page) Handler() fasthttp.RequestHandler { return p.serve }

func (p *Page) serve(c *fasthttp.RequestCtx) {
	if !c.IsGet() && !c.IsHead() {
		c.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
		return
	}
	pth := string(c.Path())
	switch {
	case strings.HasPrefix(pth, "/assets/"):
		p.asset(c, strings.TrimPrefix(pth, "/assets/"))
	case strings.HasPrefix(pth, "/room/"):
		p.room(c, strings.TrimPrefix(pth, "/room/"))
	default:
		c.Error("not found", fasthttp.StatusNotFound)
	}
}

func (p *Page) asset(c *fasthttp.RequestCtx, name string) {
	a, ok := p.assets[name]
	if !ok {
		c.Error("not found", fasthttp.StatusNotFound)
		return
	}
	h := &c.Response.Header
	h.Set("Content-Type", a.contentType)
	// Assets change only with the binary: a short max-age, then a cheap
	// revalidation against the ETag keeps upgrades visible.
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if inm := c.Request.Header.Peek("If-None-Match"); len(inm) > 0 && etagMatch(string(inm), a.etag) {
		c.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	if a.gzip != nil && c.Request.Header.HasAcceptEncoding("gzip") {
		h.Set("Content-Encoding", "gzip")
		c.SetBody(a.gzip)
		return
	}
	c.SetBody(a.raw)
}

// etagMatch reports whether an If-None-Match list names etag.
func etagMatch(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// pageConfig is rendered into the page as JSON.
type pageConfig struct {
	Alias         string   `json:"alias"`
	ParentOrigins []string `json:"parentOrigins"`
}

func (p *Page) room(c *fasthttp.RequestCtx, alias string) {
	if alias == "" || len(alias) > 64 || strings.ContainsAny(alias, "/?#") {
		c.Error("not found", fasthttp.StatusNotFound)
		return
	}
	origins := p.allowedOrigins(c, alias)
	cfg, err := json.Marshal(pageConfig{Alias: alias, ParentOrigins: origins}) // escapes <, >, &
	if err != nil {
		c.Error("internal error", fasthttp.StatusInternalServerError)
		return
	}
	body := bytes.Replace(pageHTML, []byte("{{.Config}}"), cfg, 1)
	c.SetContentType("text/html; charset=utf-8")
	h := &c.Response.Header
	h.Set("Content-Security-Policy", CSP(origins))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
	c.SetBody(body)
}

// allowedOrigins are the origins that may frame the room's page: its
// space's allowed origins. An unknown alias gets none (the page then shows
// the not-found state after its join fails).
func (p *Page) allowedOrigins(c *fasthttp.RequestCtx, alias string) []string {
	r, err := p.store.GetRoomByAlias(c, alias)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.log.Warn("room lookup failed", "alias", alias, "err", err)
		}
		return []string{}
	}
	s, err := p.store.GetSpace(c, r.ClientID, r.SpaceID)
	if err != nil {
		p.log.Warn("space lookup failed", "room", r.ID, "err", err)
		return []string{}
	}
	if s.AllowedOrigins == nil {
		return []string{}
	}
	return s.AllowedOrigins
}

// CSP is the room page's Content-Security-Policy: scripts, styles and
// fonts only from this server, media and signalling to any edge, and
// framing only by this origin and the allowed ones.
func CSP(frameOrigins []string) string {
	anc := "'self'"
	for _, o := range frameOrigins {
		if safeOrigin(o) {
			anc += " " + o
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"media-src 'self' blob: mediastream:; connect-src 'self' ws: wss: http: https:; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors " + anc
}

// safeOrigin keeps a CSP source list well-formed: a scheme://host[:port]
// without spaces, quotes or separators.
func safeOrigin(o string) bool {
	if !(strings.HasPrefix(o, "https://") || strings.HasPrefix(o, "http://")) {
		return false
	}
	return !strings.ContainsAny(o, " ;,'\"\t\r\n")
}

// Allow is the iframe `allow` list the room page needs.
const Allow = "camera; microphone; display-capture; fullscreen; autoplay; clipboard-write; picture-in-picture; screen-wake-lock"

// EmbedCode is the ready-to-paste iframe for a room page URL (a
// generate-access link, or the url of an embed token).
func EmbedCode(pageURL string) string {
	return `<iframe src="` + html.EscapeString(pageURL) + `" allow="` + Allow +
		`" allowfullscreen style="border:0;width:100%;height:100%;min-height:480px" title="Video call"></iframe>`
}
