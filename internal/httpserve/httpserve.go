package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Limits bound what one client may hold of a server; zero values mean the
// defaults below.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's line and headers
	// (default 10 s).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that waits this long for
	// its next request (default 2 min).
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers (default 1 MiB,
	// net/http's); beyond it the client gets 431.
	MaxHeaderBytes int
	// ErrorLog receives the server's own errors (failed TLS handshakes,
	// accept errors) at debug level; nil: the standard logger, as net/http.
	ErrorLog *slog.Logger
}

// Serve serves h on ln until ctx ends, then stops accepting and waits up to
// grace for in-flight requests (hijacked connections, such as WebSockets,
// are the caller's to close). It returns nil after a shutdown and the
// server's error if it fails first. ln is closed either way.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	return ServeLimited(ctx, ln, h, grace, Limits{})
}

// ServeLimited is Serve with limits on headers and idle connections.
// Reading a body is the handler's to bound (http.ResponseController
// deadlines, http.MaxBytesReader): a WebSocket must not inherit a
// whole-request read timeout.
func ServeLimited(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, l Limits) error {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = 10 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 2 * time.Minute
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes}
	if l.ErrorLog != nil {
		srv.ErrorLog = slog.NewLogLogger(l.ErrorLog.Handler(), slog.LevelDebug)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
}
