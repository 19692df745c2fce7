package security

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOversizedBodyGetsReadable413 sends a 2 MiB body (twice the limit)
// whole, over a raw TCP connection, before reading anything, as a simple
// client or a proxy that buffers does. The answer must be a readable 413 in
// the API's error form, not a connection reset: the server drains what the
// client sends after the answer (a lingering close) instead of closing a
// socket with unread data, which makes the kernel reset the connection and
// throw the answer away.
func TestOversizedBodyGetsReadable413(t *testing.T) {
	s := start(t, opts{})
	addr := strings.TrimPrefix(s.base, "http://")
	for _, tc := range []struct {
		name string
		head string
	}{
		{"content-length", "Content-Length: %d\r\n"},
		{"chunked", "Transfer-Encoding: chunked\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("a"), 2<<20)
			var msg bytes.Buffer
			fmt.Fprintf(&msg, "POST /v1/spaces HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", addr)
			if tc.name == "chunked" {
				msg.WriteString(tc.head + "\r\n")
				for rest := body; len(rest) > 0; {
					n := min(len(rest), 64<<10)
					fmt.Fprintf(&msg, "%x\r\n%s\r\n", n, rest[:n])
					rest = rest[n:]
				}
				msg.WriteString("0\r\n\r\n")
			} else {
				fmt.Fprintf(&msg, tc.head+"\r\n", len(body))
				msg.Write(body)
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A small send buffer makes the write take the time it takes
			// on a real network (the kernel hands the body over as the
			// server's side acknowledges it) rather than the instant of a
			// loopback copy: the server answers and closes while the body
			// is still on its way, as it would with a distant client.
			if err := c.(*net.TCPConn).SetWriteBuffer(64 << 10); err != nil {
				t.Fatal(err)
			}
			if err := c.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(msg.Bytes()); err != nil {
				t.Fatalf("writing the whole request: %v (the server reset the connection)", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("reading the answer: %v (the server reset the connection)", err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("reading the answer's body: %v", err)
			}
			var e struct{ Code, Message string }
			if resp.StatusCode != http.StatusRequestEntityTooLarge || json.Unmarshal(b, &e) != nil || e.Code != "body_too_large" || e.Message == "" {
				t.Fatalf("answer %d %s, want 413 {code: body_too_large}", resp.StatusCode, b)
			}
		})
	}
}
