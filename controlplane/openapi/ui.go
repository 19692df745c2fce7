package openapi

import (
	"embed"
	"mime"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

//go:embed ui/index.html ui/init.js ui/swagger-ui-bundle.js ui/swagger-ui.css ui/LICENSE
var uiFiles embed.FS

// UI serves Swagger UI under prefix ("/docs"): prefix itself redirects to
// prefix + "/".
func UI(prefix string) fasthttp.RequestHandler {
	return func(c *fasthttp.RequestCtx) {
		p := string(c.Path())
		if p == prefix {
			c.Redirect(prefix+"/", fasthttp.StatusMovedPermanently)
			return
		}
		name := strings.TrimPrefix(p, prefix+"/")
		if name == "" {
			name = "index.html"
		}
		b, err := uiFiles.ReadFile("ui/" + name)
		if err != nil || strings.Contains(name, "/") {
			c.SetStatusCode(fasthttp.StatusNotFound)
			c.SetContentType("application/json")
			c.SetBodyString(`{"code":"not_found","message":"no such file"}`)
			return
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "text/plain; charset=utf-8"
		}
		c.SetContentType(ct)
		c.Response.Header.Set("Cache-Control", "public, max-age=3600")
		c.SetBody(b)
	}
}
