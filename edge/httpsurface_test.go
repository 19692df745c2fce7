package edge

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
)

// TestHTTPSurfaceBounded: the edge's HTTP routes hold nothing for long and
// read nothing unbounded. RoomService bodies over 1 MiB get 413 and a
// token that allows no RoomService call is refused before its body is read;
// a body that never finishes, a keep-alive connection left idle and
// oversized headers are all cut off.
func TestHTTPSurfaceBounded(t *testing.T) {
	f := newFixture(t, fixtureOpts{mutate: func(c *Config) {
		c.HTTP.ReadTimeout = 500 * time.Millisecond
		c.HTTP.IdleTimeout = 500 * time.Millisecond
	}})
	admin := f.token("mod", &auth.VideoGrant{RoomJoin: true, Room: "r", RoomAdmin: true}, time.Minute)
	joinOnly := f.token("alice", joinGrant("r"), time.Minute)
	addr := strings.TrimPrefix(f.httpURL, "http://")
	post := func(token string, length int) string {
		return "POST /twirp/livekit.RoomService/ListParticipants HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n" +
			"Authorization: Bearer " + token + "\r\nContent-Length: " + strconv.Itoa(length) + "\r\n\r\n"
	}
	tests := []struct {
		name string
		send string
		want int // HTTP status; 0: the connection is closed without one
	}{
		{"body over 1 MiB", post(admin, 2<<20), http.StatusRequestEntityTooLarge},
		{"no RoomService grant: refused unread", post(joinOnly, 1000), http.StatusForbidden},
		{"body that never ends", post(admin, 100) + `{"room":`, 0},
		{"headers over the limit", "GET /probe HTTP/1.1\r\nHost: edge\r\nX-Pad: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tt.send); err != nil {
				t.Fatal(err)
			}
			// The answer comes without the rest of the body ever being
			// sent: within the read timeout, far below this deadline.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				t.Fatal("the edge is still waiting for the client: nothing bounds it")
			case tt.want == 0:
				if err == nil {
					// A 4xx for the cut body is fine too; what matters is
					// that the edge did not wait.
					resp.Body.Close()
					if resp.StatusCode < 400 {
						t.Fatalf("HTTP %d for an unfinished body", resp.StatusCode)
					}
				}
			case err != nil:
				t.Fatalf("no answer: %v", err)
			default:
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Fatalf("HTTP %d, want %d", resp.StatusCode, tt.want)
				}
			}
		})
	}
	t.Run("idle keep-alive connection closed", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := io.WriteString(c, "GET /probe HTTP/1.1\r\nHost: edge\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, err := br.ReadByte(); err == nil || (errors.As(err, new(net.Error)) && err.(net.Error).Timeout()) {
			t.Fatalf("idle connection still open: %v", err)
		}
	})
}
