// Package web serves the room page that invitation links open and that
// integrators embed in an iframe: /room/{alias} renders the page (with a
// Content-Security-Policy whose frame-ancestors are the room's space's
// allowed origins) and /assets/* serves the page's script, style and
// livekit-client's browser bundle, all embedded in the binary from dist/
// (built by app/build.mjs and committed, so `go build` needs no npm).
// EmbedCode returns the iframe code integrators paste.
package web
