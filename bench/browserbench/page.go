package browserbench

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

//go:embed pages
var pagesFS embed.FS

// session is what one page reads from /session/<id>: where to connect
// and with which token, and what to publish.
type session struct {
	URL    string `json:"url"`
	Token  string `json:"token"`
	Codec  string `json:"codec,omitempty"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	FPS    int    `json:"fps,omitempty"`
	// Quality is the video quality the subscriber asks for: LOW,
	// MEDIUM or HIGH (default).
	Quality string `json:"quality,omitempty"`
}

// pageServer serves the bench's pages, livekit-client's bundle at /lk.js
// and each page's session, on the bridge's gateway.
type pageServer struct {
	origin string // http://gateway:port

	mu       sync.Mutex
	sessions map[string]session

	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

func newPageServer(gw netip.Addr, lkJS string) (*pageServer, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(gw, 0).String())
	if err != nil {
		return nil, fmt.Errorf("browserbench: page server: %w", err)
	}
	sub, err := fs.Sub(pagesFS, "pages")
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	ps := &pageServer{origin: "http://" + ln.Addr().String(), sessions: map[string]session{}, ln: ln, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(sub))
	mux.HandleFunc("GET /lk.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, lkJS) })
	mux.HandleFunc("GET /session/{id}", func(w http.ResponseWriter, r *http.Request) {
		ps.mu.Lock()
		s, ok := ps.sessions[r.PathValue("id")]
		ps.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	ps.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return ps, nil
}

// serve runs until ctx ends.
func (ps *pageServer) serve(ctx context.Context) error {
	defer close(ps.done)
	errc := make(chan error, 1)
	go func() { errc <- ps.srv.Serve(ps.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("browserbench: page server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = ps.srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("browserbench: page server: %w", err)
	}
	return nil
}

// page registers s and returns the URL of page that reads it.
func (ps *pageServer) page(name string, s session) (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("browserbench: random: %w", err)
	}
	id := hex.EncodeToString(b)
	ps.mu.Lock()
	ps.sessions[id] = s
	ps.mu.Unlock()
	return ps.origin + "/" + name + "?s=" + id, nil
}
