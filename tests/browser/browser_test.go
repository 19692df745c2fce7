package browser

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/testenv"
)

// need returns chromium's path, or skips (fails in CI) when the test
// cannot run here.
func need(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end with Chromium in a namespace")
	}
	chromium, err := exec.LookPath("chromium")
	if err == nil {
		err = netns.Available()
	}
	testenv.Need(t, "chromium and network namespaces", err)
	return chromium
}

type stack struct {
	api  string // http://gw:port
	host *netns.Host
	// chromium are further Chromium flags of this stack's browsers.
	chromium []string
	// client calls the API (nil: http.DefaultClient).
	client *http.Client
	token  string // the space owner's user token
	space  string
}

var apiLine = regexp.MustCompile(`API\s+(http://\S+)/v1`)

// startStack builds spacecast, runs `spacecast dev` on a namespace's
// gateway and signs in a user who owns one space.
func startStack(t *testing.T, ctx context.Context) *stack {
	t.Helper()
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	h, err := n.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "spacecast")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/spacecast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.CommandContext(ctx, bin, "dev", "--data", data, "--listen", net.JoinHostPort(n.Gateway().String(), "0"), "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The log goes to a file (the process writes it; the test reads it
	// when the test failed).
	logPath := filepath.Join(dir, "dev.stderr")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-read
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("--- spacecast dev stderr (end) ---\n%s", b)
		}
	})
	apiURL := make(chan string, 1)
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				apiURL <- m[1]
			}
		}
	}()
	s := &stack{host: h}
	select {
	case s.api = <-apiURL:
	case <-ctx.Done():
		b, _ := os.ReadFile(logPath)
		t.Fatalf("spacecast dev did not start: %s", b)
	}
	var creds struct {
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
	}
	b, err := os.ReadFile(filepath.Join(data, "dev-client.json"))
	if err != nil || json.Unmarshal(b, &creds) != nil {
		t.Fatalf("dev client: %s %v", b, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	s.call(t, "POST", "/auth/token", map[string]string{"client_id": creds.ClientID, "client_secret": creds.ClientSecret, "grant_type": "client_credentials"}, &tok)
	s.token = tok.AccessToken
	s.call(t, "POST", "/users", map[string]string{"email": "ada@example.com", "password": "correct horse battery", "username": "Ada"}, nil)
	s.token = ""
	s.call(t, "POST", "/auth/token", map[string]string{"client_id": creds.ClientID, "client_secret": creds.ClientSecret, "grant_type": "password", "username": "ada@example.com", "password": "correct horse battery"}, &tok)
	s.token = tok.AccessToken
	var space struct {
		ID string `json:"id"`
	}
	s.call(t, "POST", "/spaces", map[string]any{"name": "Team", "isPublic": true}, &space)
	s.space = space.ID
	return s
}

func (s *stack) call(t *testing.T, method, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, s.api+"/v1"+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	hc := s.client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, rb)
	}
	if out != nil {
		if err := json.Unmarshal(rb, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, rb, err)
		}
	}
}

// room creates a room and returns it id.
func (s *stack) room(t *testing.T, fields map[string]any) string {
	var r struct {
		ID string `json:"id"`
	}
	s.call(t, "POST", "/spaces/"+s.space+"/rooms", fields, &r)
	return r.ID
}

// link returns a generate-access link to the room.
func (s *stack) link(t *testing.T, room, name, role string) string {
	var l struct {
		URL string `json:"url"`
	}
	s.call(t, "POST", "/spaces/"+s.space+"/rooms/"+room+"/generate-access", map[string]any{"username": name, "role": role}, &l)
	return l.URL
}

func probeURL(page string) string {
	sep := "?"
	if strings.Contains(page, "?") {
		sep = "&"
	}
	return page + sep + "probe=1&autojoin=1"
}

// artifacts is the folder for this test's logs: artifacts/browser/<test>
// at the repository root.
func artifacts(t *testing.T) string {
	d := filepath.Join("..", "..", "artifacts", "browser", strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Logf("artifacts: %v", err)
	}
	return d
}
