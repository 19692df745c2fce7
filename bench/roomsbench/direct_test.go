package roomsbench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/auth"
)

func TestServerAddr(t *testing.T) {
	tests := []struct {
		name, url string
		want      string // "" = error
	}{
		{"bench range", "ws://198.19.255.1:7880", "198.19.255.1:7880"},
		{"default port", "ws://198.18.3.1", "198.18.3.1:80"},
		{"wss", "wss://198.18.3.1:7443/", "198.18.3.1:7443"},
		{"loopback", "ws://127.0.0.1:7880", ""},
		{"outside the range", "ws://192.0.2.2:7880", ""},
		{"name", "ws://localhost:7880", ""},
		{"http", "http://198.19.255.1:7880", ""},
		{"port 0", "ws://198.19.255.1:0", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := serverAddr(tt.url)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("serverAddr(%q) = %v, want an error", tt.url, got)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("serverAddr(%q) = %v, %v; want %s", tt.url, got, err, tt.want)
			}
		})
	}
}

func TestDirectSeats(t *testing.T) {
	c := DefaultConfig()
	c.Rooms, c.Participants, c.Publishers = 2, 3, 1
	c.LiveKitURL, c.APIKey, c.APISecret = "ws://198.19.255.1:7880", "devkey", "secret-secret-secret-secret-secret"
	seats, err := directSeats(c, "x", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(seats) != 6 {
		t.Fatalf("%d seats, want 6", len(seats))
	}
	for i, s := range seats {
		t.Run(s.Name, func(t *testing.T) {
			if s.URL != c.LiveKitURL {
				t.Errorf("URL = %q", s.URL)
			}
			tok, err := auth.ParseAPIToken(s.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if tok.APIKey() != "devkey" {
				t.Errorf("key = %q", tok.APIKey())
			}
			if _, _, err := tok.Verify("wrong"); err == nil {
				t.Error("verified with the wrong secret")
			}
			_, claims, err := tok.Verify(c.APISecret)
			if err != nil {
				t.Fatal(err)
			}
			wantRoom := "bench-x-1"
			if i >= 3 {
				wantRoom = "bench-x-2"
			}
			g := claims.Video
			if claims.Identity != s.Name || !g.RoomJoin || g.Room != wantRoom || s.Alias != wantRoom {
				t.Errorf("identity %q room %q join %v, want %q in %q", claims.Identity, g.Room, g.RoomJoin, s.Name, wantRoom)
			}
			if pub := i%3 == 0; g.GetCanPublish() != pub || s.Publish != pub || !g.GetCanSubscribe() {
				t.Errorf("canPublish %v (seat %v) canSubscribe %v, want publish %v", g.GetCanPublish(), s.Publish, g.GetCanSubscribe(), pub)
			}
		})
	}
}

func TestListenerPID(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	pid, err := listenerPID(port)
	if err != nil || pid != os.Getpid() {
		t.Fatalf("listenerPID(%d) = %d, %v; want %d", port, pid, err, os.Getpid())
	}
	ln.Close()
	if pid, err := listenerPID(port); !errors.Is(err, ErrNoServer) {
		t.Fatalf("after close: listenerPID = %d, %v; want ErrNoServer", pid, err)
	}
	if l := procLabel(os.Getpid()); !strings.HasSuffix(l, fmt.Sprintf(" (pid %d)", os.Getpid())) || strings.HasPrefix(l, "server") {
		t.Errorf("procLabel = %q, want the command name and pid", l)
	}
	cpu, rss, err := procUsage(os.Getpid())
	if err != nil || cpu <= 0 || rss <= 0 {
		t.Fatalf("procUsage = %v, %v, %v", cpu, rss, err)
	}
}

func TestPacketsIn(t *testing.T) {
	origin := time.Unix(1000, 0)
	c := newCollector(origin)
	for s := 1; s <= 10; s++ { // 100 packets a second, ticks a little late
		at := origin.Add(time.Duration(s)*time.Second + 30*time.Millisecond)
		c.add(0, eventTick(at, 100))
	}
	tests := []struct {
		name     string
		from, to int
		want     uint64
	}{
		{"middle", 3, 8, 500},
		{"all", 0, 10, 1000},
		{"empty", 5, 5, 0},
		{"beyond", 9, 20, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.packetsIn(origin.Add(time.Duration(tt.from)*time.Second), origin.Add(time.Duration(tt.to)*time.Second))
			if got != tt.want {
				t.Fatalf("packetsIn(%d, %d) = %d, want %d", tt.from, tt.to, got, tt.want)
			}
		})
	}
	if !strings.Contains(ErrNoServer.Error(), "roomsbench") {
		t.Error("sentinel without package prefix")
	}
}
