package controlplane

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Lingering close (what nginx calls lingering_close, and net/http does
// after an unread body): a server that answers before it has read the
// whole request — a 413 for a body over the limit, a 400 for a request it
// could not parse — and then closes the socket with the rest of the
// request still unread makes the kernel answer with a reset, and a reset
// makes the client's kernel throw away the answer it had not read yet: the
// client sees "connection reset by peer" instead of the 413. So such a
// connection is half-closed after the answer (the client reads the answer
// and the end of the stream) and what the client still sends is read and
// thrown away until it closes, for at most lingerTimeout and lingerBytes.

// lingerTimeout bounds the drain of one connection.
const lingerTimeout = 5 * time.Second

// lingerListener hands out connections that linger when told to.
type lingerListener struct {
	net.Listener
	maxBytes int64
}

// LingerListener wraps ln so that a connection whose request was refused
// before its body was read (413, 400) is drained before it is closed: the
// client then reads the answer instead of a connection reset. Run serves
// on it; wrap your own listener with it when you serve FastHTTPServer
// yourself. maxBody is the server's body limit.
func LingerListener(ln net.Listener, maxBody int) net.Listener {
	return lingerListener{Listener: ln, maxBytes: max(8<<20, 4*int64(maxBody))}
}

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c, maxBytes: l.maxBytes}, nil
}

// lingerConn drains before closing once linger is set.
type lingerConn struct {
	net.Conn
	maxBytes int64
	linger   atomic.Bool
	once     sync.Once
	err      error
}

// lingerOnClose makes the connection drain on Close (when it is one of
// LingerListener's).
func lingerOnClose(c net.Conn) {
	if lc, ok := c.(*lingerConn); ok {
		lc.linger.Store(true)
	}
}

func (c *lingerConn) Close() error {
	c.once.Do(func() {
		if c.linger.Load() {
			c.drain()
		}
		c.err = c.Conn.Close()
	})
	return c.err
}

// drain half-closes the connection (the answer is already written) and
// reads until the client closes, the byte budget is spent or the timeout
// passes.
func (c *lingerConn) drain() {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	if c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, c.Conn, c.maxBytes)
}
