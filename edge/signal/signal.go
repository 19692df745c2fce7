package signal

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Sentinel errors.
var (
	ErrTooLarge  = errors.New("signal: message too large")
	ErrMalformed = errors.New("signal: malformed message")
	ErrEmpty     = errors.New("signal: message without content")
	ErrQueueFull = errors.New("signal: send queue full")
	ErrClosed    = errors.New("signal: connection closed")
)

// Tuning.
const (
	sendQueue    = 256
	writeTimeout = 5 * time.Second
	closeGrace   = time.Second
	// pingEvery and readTimeout detect a dead client: the server pings at
	// the WebSocket level (clients answer without help from the SDK), and a
	// connection silent for readTimeout is closed.
	pingEvery   = 5 * time.Second
	readTimeout = 20 * time.Second
)

// Decode parses one client message. text selects JSON (protojson) instead of
// binary protobuf. Messages larger than max bytes, that do not parse, or that
// carry no request are refused.
func Decode(b []byte, text bool, max int) (*livekit.SignalRequest, error) {
	if len(b) > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), max)
	}
	req := &livekit.SignalRequest{}
	var err error
	if text {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, req)
	} else {
		err = proto.UnmarshalOptions{RecursionLimit: 32}.Unmarshal(b, req)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if req.Message == nil {
		return nil, ErrEmpty
	}
	return req, nil
}

// Conn is one client WebSocket. ReadRequest is called by one reader
// goroutine; Send may be called from any goroutine; WriteLoop runs in the
// goroutine the owner starts and waits for.
type Conn struct {
	ws   *websocket.Conn
	max  int
	opts Options
	out  chan []byte
	done chan struct{}

	closing   chan struct{} // closed by Close
	closeMsg  atomic.Pointer[[]byte]
	lastMsg   atomic.Pointer[[]byte] // sent after the queue, before the close frame
	closeOnce sync.Once
	abortOnce sync.Once
}

// drainLimit is how much of an oversized message is read and discarded so
// the LeaveRequest that follows reaches the client before the socket closes
// (closing with unread data would reset the connection). Beyond it the
// socket is simply dropped.
const drainLimit = 4 << 20

// Options tune a Conn; zero values mean the defaults.
type Options struct {
	// Ping is the interval of WebSocket pings from the server.
	Ping time.Duration
	// Timeout closes a connection from which nothing (not even a pong)
	// arrived for this long.
	Timeout time.Duration
}

// NewConn wraps an upgraded WebSocket; messages over max bytes are refused.
func NewConn(ws *websocket.Conn, max int) *Conn {
	return NewConnWith(ws, max, Options{})
}

// NewConnWith is NewConn with options.
func NewConnWith(ws *websocket.Conn, max int, o Options) *Conn {
	if o.Ping <= 0 {
		o.Ping = pingEvery
	}
	if o.Timeout <= 0 {
		o.Timeout = readTimeout
	}
	ws.SetReadLimit(int64(max) + drainLimit)
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(time.Now().Add(o.Timeout)) })
	return &Conn{ws: ws, max: max, opts: o, out: make(chan []byte, sendQueue), done: make(chan struct{}), closing: make(chan struct{})}
}

// ReadRequest blocks for the next client message.
func (c *Conn) ReadRequest() (*livekit.SignalRequest, error) {
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.opts.Timeout))
		typ, r, err := c.ws.NextReader()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		b, err := io.ReadAll(io.LimitReader(r, int64(c.max)+1))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrClosed, err)
		}
		if len(b) > c.max {
			_, _ = io.Copy(io.Discard, r)
			return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, c.max)
		}
		switch typ {
		case websocket.BinaryMessage:
			return Decode(b, false, c.max)
		case websocket.TextMessage:
			return Decode(b, true, c.max)
		}
	}
}

// Send queues a response. It never blocks: a full queue means the client is
// not reading, and the caller should drop it.
func (c *Conn) Send(resp *livekit.SignalResponse) error {
	b, err := proto.Marshal(resp)
	if err != nil {
		return fmt.Errorf("signal: marshal: %w", err)
	}
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	select {
	case c.out <- b:
		return nil
	default:
		return ErrQueueFull
	}
}

// Close sends what is queued, then a close frame with reason, then closes the
// socket. It is safe to call more than once and from any goroutine.
func (c *Conn) Close(reason string) {
	c.closeOnce.Do(func() {
		if len(reason) > 120 {
			reason = reason[:120]
		}
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, reason)
		c.closeMsg.Store(&msg)
		close(c.closing)
	})
}

// CloseWith is Close that first sends last, after what is queued, even
// when the queue is full: the LeaveRequest that says why the session ends
// must not be lost to the backlog of a client that flooded the edge.
func (c *Conn) CloseWith(last *livekit.SignalResponse, reason string) {
	if b, err := proto.Marshal(last); err == nil {
		c.lastMsg.CompareAndSwap(nil, &b)
	}
	c.Close(reason)
}

// Abort closes the socket at once (the reader unblocks).
func (c *Conn) Abort() {
	c.abortOnce.Do(func() { _ = c.ws.Close() })
}

// Done is closed when WriteLoop has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// WriteLoop writes queued messages until Close, then closes the socket.
func (c *Conn) WriteLoop() {
	defer close(c.done)
	defer c.Abort()
	ping := time.NewTicker(c.opts.Ping)
	defer ping.Stop()
	for {
		var b []byte
		select {
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				c.fail()
				return
			}
			continue
		case <-c.closing:
			// Send what was queued before Close, then the close frame.
			for {
				select {
				case b := <-c.out:
					_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
					if c.ws.WriteMessage(websocket.BinaryMessage, b) != nil {
						return
					}
					continue
				default:
				}
				break
			}
			if last := c.lastMsg.Load(); last != nil {
				_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
				if c.ws.WriteMessage(websocket.BinaryMessage, *last) != nil {
					return
				}
			}
			_ = c.ws.WriteControl(websocket.CloseMessage, *c.closeMsg.Load(), time.Now().Add(closeGrace))
			return
		case b = <-c.out:
		}
		_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
		if err := c.ws.WriteMessage(websocket.BinaryMessage, b); err != nil {
			c.fail()
			return
		}
	}
}

// fail ends a connection whose writes fail.
func (c *Conn) fail() { c.Close("") }
