package signal

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair serves one WebSocket on 127.0.0.1 and returns the server's Conn
// and the client socket.
func pair(t *testing.T, o Options) (*Conn, *websocket.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *Conn, 1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		got <- NewConnWith(ws, 1024, o)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	cl, _, err := (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial("ws://"+ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	select {
	case c := <-got:
		go c.WriteLoop()
		t.Cleanup(func() { c.Close(""); <-c.Done() })
		return c, cl
	case <-time.After(5 * time.Second):
		t.Fatal("no server connection")
	}
	return nil, nil
}

func TestSilentClientTimesOut(t *testing.T) {
	c, _ := pair(t, Options{Ping: 20 * time.Millisecond, Timeout: 200 * time.Millisecond})
	start := time.Now()
	// The client never reads, so it never answers pings.
	_, err := c.ReadRequest()
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadRequest() = %v, want ErrClosed", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("dead client detected too late")
	}
}

func TestReadingClientStaysAlive(t *testing.T) {
	c, cl := pair(t, Options{Ping: 20 * time.Millisecond, Timeout: 300 * time.Millisecond})
	go func() { // the client reads (and so answers pings)
		for {
			if _, _, err := cl.ReadMessage(); err != nil {
				return
			}
		}
	}()
	b, _ := proto.Marshal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: 1}})
	time.AfterFunc(time.Second, func() { _ = cl.WriteMessage(websocket.BinaryMessage, b) })
	req, err := c.ReadRequest() // waits past three timeouts, kept alive by pongs
	if err != nil || req.GetPing() != 1 {
		t.Fatalf("ReadRequest() = %v, %v", req, err)
	}
}

func TestSendAfterClose(t *testing.T) {
	c, _ := pair(t, Options{})
	c.Close("bye")
	if err := c.Send(&livekit.SignalResponse{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send() after Close = %v", err)
	}
}
