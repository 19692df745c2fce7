// Package web serves the room page that invitation links open and that
// integrators embed in an iframe: /room/{alias} renders the page (with a
// Content-Security-Policy whose frame-ancestors are the room's space's
// allowed origins) and /assets/* serves its script and stylesheet. The
// script is TypeScript on livekit-client (app/src), typechecked by tsc and
// bundled by esbuild into dist/ (`cd app && npm ci && npm run build`); dist
// is committed and embedded, so `go build` needs no npm, and a test fails
// when dist does not match app's sources. Assets are gzipped once at New
// and served with an ETag. EmbedCode returns the iframe code integrators
// paste.
package web
