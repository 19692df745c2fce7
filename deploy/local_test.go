package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/testenv"
)

// TestLocalFleet: deploy/local/fleet up brings up three regions on this
// machine (a control plane and an edge per region, each in a namespace);
// a room joined from two regions spans them (each participant sees the
// other through the relay); fleet down leaves no process, namespace, link
// or state behind.
func TestLocalFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-region fleet: skipped in -short")
	}
	testenv.Need(t, "network namespaces", netns.Available())
	_, err := exec.LookPath("curl")
	testenv.Need(t, "curl", err)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "spacecast")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/spacecast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	name := "sl" + hex.EncodeToString(b)
	subnet := freeSubnet(t, ctx)
	state := filepath.Join(tmp, "state")
	fleet := func(ctx context.Context, cmd string) string {
		t.Helper()
		c := exec.CommandContext(ctx, "bash", "local/fleet", cmd)
		c.Env = append(os.Environ(), "SPACECAST_BIN="+bin, "SPACECAST_LOCAL_DIR="+state,
			"SPACECAST_LOCAL_NAME="+name, "SPACECAST_LOCAL_SUBNET="+subnet)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("fleet %s: %v\n%s", cmd, err, out)
		}
		return string(out)
	}
	downed := false
	t.Cleanup(func() { // whatever happened: nothing left behind
		if !downed {
			dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			fleet(dctx, "down")
		}
	})
	out := fleet(ctx, "up")
	t.Logf("fleet up:\n%s", out)
	var pids []int
	for _, n := range []string{"cp", "eu", "us", "ap"} {
		b, err := os.ReadFile(filepath.Join(state, n+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		pids = append(pids, pid)
	}

	// A call between two regions.
	var client struct{ ClientID, ClientSecret string }
	if b, err := os.ReadFile(filepath.Join(state, "client.json")); err != nil || json.Unmarshal(b, &client) != nil {
		t.Fatalf("client.json: %v", err)
	}
	api := &restClient{t: t, ctx: ctx, base: "http://" + subnet + ".2:8080/v1"}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	api.must("POST", "/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": client.ClientID, "client_secret": client.ClientSecret}, &tok)
	api.must("POST", "/users", tok.AccessToken, map[string]string{"email": "op@example.com", "password": "correct horse battery", "username": "op"}, nil)
	api.must("POST", "/auth/token", "", map[string]string{"grant_type": "password", "client_id": client.ClientID, "client_secret": client.ClientSecret,
		"username": "op@example.com", "password": "correct horse battery"}, &tok)
	var sp, rm struct {
		ID    string `json:"id"`
		Alias string `json:"alias"`
	}
	api.must("POST", "/spaces", tok.AccessToken, map[string]any{"name": "Local", "isPublic": true}, &sp)
	api.must("POST", "/spaces/"+sp.ID+"/rooms", tok.AccessToken, map[string]any{"name": "call", "isPublic": true}, &rm)
	var conns []*signalConn
	for _, region := range []string{"eu", "us"} {
		var ja struct {
			MediaToken string `json:"mediaToken"`
			Edge       struct {
				URL    string `json:"url"`
				Region string `json:"region"`
			} `json:"edge"`
		}
		api.must("POST", "/rooms/"+rm.Alias+"/join", "", map[string]any{"regionHint": region}, &ja)
		if ja.Edge.Region != region {
			t.Fatalf("a join asking for %s was placed in %q", region, ja.Edge.Region)
		}
		conns = append(conns, dialSignal(t, ctx, ja.Edge.URL, ja.MediaToken))
	}
	for deadline := time.Now().Add(30 * time.Second); !(conns[0].sees(conns[1].identity) && conns[1].sees(conns[0].identity)); {
		if time.Now().After(deadline) {
			t.Fatal("the participants in eu and us do not see each other")
		}
		time.Sleep(100 * time.Millisecond) // polling
	}
	for _, c := range conns {
		_ = c.ws.Close()
		<-c.done
	}

	fleet(ctx, "down")
	downed = true
	for _, pid := range pids {
		if running(pid) {
			t.Errorf("process %d still runs after down", pid)
		}
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), name+"-") {
		t.Errorf("namespaces left: %s", out)
	}
	if out, _ := exec.Command("ip", "-o", "link", "show").Output(); strings.Contains(string(out), name) {
		t.Errorf("links left: %s", out)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state folder left: %v", err)
	}
}

// running reports whether pid is a live process (a zombie, which its new
// parent reaps when it gets to it, has ended).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// freeSubnet picks a /24 of 198.19.200–249 that no interface of this
// machine uses.
func freeSubnet(t *testing.T, ctx context.Context) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		b := make([]byte, 1)
		_, _ = rand.Read(b)
		s := fmt.Sprintf("198.19.%d", 200+int(b[0])%50)
		if !strings.Contains(string(out), " "+s+".") {
			return s
		}
	}
	t.Fatal("no free /24 in 198.19.200.0–198.19.249.0")
	return ""
}

// restClient calls the control plane's API.
type restClient struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func (c *restClient) must(method, path, token string, body, out any) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(c.ctx, method, c.base+path, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// signalConn is a LiveKit signalling connection that notes the other
// participants the edge tells of.
type signalConn struct {
	ws       *websocket.Conn
	identity string
	done     chan struct{}
	others   chan string
	seen     map[string]bool
}

func dialSignal(t *testing.T, ctx context.Context, edgeURL, token string) *signalConn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.DialContext(ctx, edgeURL+"/rtc?protocol=16&access_token="+url.QueryEscape(token), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", edgeURL, err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := ws.ReadMessage()
	var res livekit.SignalResponse
	if err != nil || proto.Unmarshal(msg, &res) != nil || res.GetJoin() == nil {
		t.Fatalf("no join response from %s: %v", edgeURL, err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	c := &signalConn{ws: ws, identity: res.GetJoin().GetParticipant().GetIdentity(), done: make(chan struct{}),
		others: make(chan string, 64), seen: map[string]bool{}}
	for _, o := range res.GetJoin().GetOtherParticipants() {
		c.others <- o.GetIdentity()
	}
	go func() {
		defer close(c.done)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			var m livekit.SignalResponse
			if proto.Unmarshal(b, &m) != nil {
				continue
			}
			for _, p := range m.GetUpdate().GetParticipants() {
				select {
				case c.others <- p.GetIdentity():
				default:
				}
			}
		}
	}()
	return c
}

// sees reports whether the edge told c of identity.
func (c *signalConn) sees(identity string) bool {
	for {
		select {
		case id := <-c.others:
			c.seen[id] = true
		default:
			return c.seen[identity]
		}
	}
}
