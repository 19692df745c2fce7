package loopbridge

import (
	"context"
	"errors"
	"io"
	"net"
	"time"
)

// accept serves one listening socket inside a host.
func (b *Bridge) accept(ctx context.Context, h *host, p tcpPort) {
	defer b.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-b.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, say: count it, breathe, go on.
			b.c.errors.Add(1)
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-b.closing:
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		b.c.tcpConns.Add(1)
		b.wg.Add(1)
		go b.serveTCP(ctx, h, c, p.target)
	}
}

// serveTCP connects one accepted connection to the service and copies
// both ways until both sides have closed.
func (b *Bridge) serveTCP(ctx context.Context, h *host, in net.Conn, target string) {
	defer b.wg.Done()
	defer in.Close()
	if !b.track(h, in) {
		return
	}
	defer b.untrack(h, in)
	if !h.gate.wait(b.closing) {
		return
	}
	d := net.Dialer{Timeout: b.cfg.DialTimeout}
	out, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		b.c.errors.Add(1)
		return
	}
	defer out.Close()
	if !b.track(h, out) {
		return
	}
	defer b.untrack(h, out)
	done := make(chan struct{})
	go func() { // owned: waited for below
		defer close(done)
		b.pipe(h, out, in)
	}()
	b.pipe(h, in, out)
	<-done
}

// pipe copies src to dst, holding bytes while the host is paused. At
// src's end of stream it half-closes dst; on an error it closes both, so
// that the other direction ends too.
func (b *Bridge) pipe(h *host, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !h.gate.wait(b.closing) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				_ = src.Close()
				return
			}
			b.c.tcpBytes.Add(uint64(n))
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
					return
				}
			}
			_ = dst.Close()
			return
		}
	}
}

// track registers a live connection so that shutdown closes it; false
// when the bridge is already shut.
func (b *Bridge) track(h *host, c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	h.conns[c] = struct{}{}
	return true
}

func (b *Bridge) untrack(h *host, c net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(h.conns, c)
}
