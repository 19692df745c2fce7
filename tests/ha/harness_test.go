package ha

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/procattr"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/spacecast/spacecast/controlplane/store/postgres"
	"github.com/spacecast/spacecast/controlplane/webhook"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

// proc is one spacecast process.
type proc struct {
	name   string
	args   []string
	addr   string // 127.0.0.1:port of its API or signalling
	cmd    *exec.Cmd
	stderr string
	done   chan error
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// world is the deployment under test.
type world struct {
	t     *testing.T
	ctx   context.Context
	bin   string
	dir   string
	env   []string
	dsn   string // without the password
	hc    *http.Client
	mu    sync.Mutex
	procs []*proc
}

// buildSpacecast builds the binary of this tree once per test binary.
var buildSpacecast = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "spacecast-ha-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "spacecast")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/spacecast").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func newWorld(t *testing.T, ctx context.Context) *world {
	t.Helper()
	srv := pg.Server(t)
	full := pg.DB(t)
	u, err := url.Parse(full)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(srv.User)
	w := &world{t: t, ctx: ctx, dir: t.TempDir(), dsn: u.String(),
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.Cleanup(w.hc.CloseIdleConnections)
	if postgres.DSNHasPassword(w.dsn) {
		t.Fatal("the test DSN carries the password")
	}
	if w.bin = os.Getenv("SC_HA_BIN"); w.bin == "" {
		if w.bin, err = buildSpacecast(); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k, v := range cl.APIKeys {
		keys = append(keys, k+":"+v)
	}
	w.env = append(os.Environ(),
		clusterkey.EnvAPIKeys+"="+strings.Join(keys, ","),
		clusterkey.EnvSigningKey+"="+cl.SigningKey,
		clusterkey.EnvTURNSecrets+"="+strings.Join(cl.TURNSecrets, ","),
		"SPACECAST_STORE_PASSWORD="+srv.Password,
	)
	return w
}

// freePort picks a port nothing listens on now.
func (w *world) freePort() string {
	w.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func (w *world) write(name, body string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// controlPlaneConfig writes the config of replica name listening on addr,
// placing joins on the edge at edgeAddr.
func (w *world) controlPlaneConfig(name, addr, edgeAddr, extra string) string {
	return w.write(name+".yaml", fmt.Sprintf(`log: {level: info}
controlplane:
  listen: %[1]s
  publicURL: http://%[1]s
  drainDelay: 0s
  revocationSync: 200ms
  rateLimit:           # every request comes from the test's one address
    tokenPerAddress: {rate: 0}
    tokenPerClient: {rate: 0}
    joinPerAddress: {rate: 0}
    guestJoinPerAddress: {rate: 0}
  devEdge: {url: "ws://%[2]s", region: local, nodeId: edge-1}
store:
  driver: postgres
  dsn: %[3]s
webhooks:
  allow: [127.0.0.0/8]   # the test's receiver
  timeout: 2s            # an attempt, and so the lease a dead replica leaves
  poll: 100ms
  calls: {finishGrace: 2s, edgeTTL: 30s, sweep: 100ms}
%[4]s`, addr, edgeAddr, w.dsn, extra))
}

// admin runs `spacecast admin` against config.
func (w *world) admin(config string, args ...string) []byte {
	w.t.Helper()
	cmd := exec.CommandContext(w.ctx, w.bin, append(append([]string{"admin"}, args...), "--config", config)...)
	cmd.Env = w.env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		w.t.Fatalf("admin %v: %v %s", args, err, stderr)
	}
	return out
}

// start runs a spacecast process; it is killed when the test ends.
func (w *world) start(name, addr string, args ...string) *proc {
	w.t.Helper()
	p := &proc{name: name, addr: addr, args: args}
	w.run(p)
	w.mu.Lock()
	w.procs = append(w.procs, p)
	w.mu.Unlock()
	return p
}

func (w *world) run(p *proc) {
	w.t.Helper()
	p.stderr = filepath.Join(w.dir, p.name+".stderr")
	f, err := os.OpenFile(p.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	p.cmd = exec.Command(w.bin, p.args...)
	p.cmd.Env = w.env
	p.cmd.Stderr = f
	p.cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
	if err := p.cmd.Start(); err != nil {
		w.t.Fatalf("start %s: %v", p.name, err)
	}
	p.done = make(chan error, 1)
	cmd, done := p.cmd, p.done
	go func() { done <- cmd.Wait() }()
	w.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if w.t.Failed() {
			b, _ := os.ReadFile(p.stderr)
			s := string(b)
			if len(s) > 4000 {
				s = s[len(s)-4000:]
			}
			w.t.Logf("--- %s stderr (end) ---\n%s", p.name, s)
		}
	})
}

// kill9 ends p with SIGKILL: a crash, nothing handed over.
func (w *world) kill9(p *proc) {
	w.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.done <- nil
}

// ready waits until GET url answers 200.
func (w *world) ready(url string) {
	w.t.Helper()
	w.eventually("ready: "+url, 30*time.Second, func() bool {
		resp, err := w.hc.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// eventually polls cond until it holds or d passes; it returns how long
// it took.
func (w *world) eventually(what string, d time.Duration, cond func() bool) time.Duration {
	w.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			w.t.Fatalf("after %s: %s did not happen", d, what)
		}
		select {
		case <-w.ctx.Done():
			w.t.Fatalf("%s: %v", what, w.ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return time.Since(start)
}

// call sends a JSON request to base+path and decodes a 2xx answer.
func (w *world) call(base, method, path, token string, body, out any) int {
	w.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(w.ctx, method, "http://"+base+"/v1"+path, r)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			w.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// token asks base for a token with body; it fails the test unless 200.
func (w *world) token(base string, body map[string]string) string {
	w.t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if c := w.call(base, "POST", "/auth/token", "", body, &out); c != 200 {
		w.t.Fatalf("token from %s: %d", base, c)
	}
	return out.AccessToken
}

// participant is a signalling connection to the edge, as an SDK holds one.
type participant struct {
	ws     *websocket.Conn
	closed chan struct{}
}

// connect joins the edge at addr with a media token.
func (w *world) connect(addr, token string) *participant {
	w.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.DialContext(w.ctx, "ws://"+addr+"/rtc?protocol=16&access_token="+url.QueryEscape(token), nil)
	if err != nil {
		w.t.Fatalf("dial the edge: %v", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		w.t.Fatalf("read join: %v", err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	var res livekit.SignalResponse
	if err := proto.Unmarshal(msg, &res); err != nil || res.GetJoin() == nil {
		w.t.Fatalf("first message is not a join (%v)", err)
	}
	p := &participant{ws: ws, closed: make(chan struct{})}
	go func() {
		defer close(p.closed)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	w.t.Cleanup(func() { _ = ws.Close(); <-p.closed })
	return p
}

// leave sends a LeaveRequest and closes the connection.
func (p *participant) leave() {
	b, _ := proto.Marshal(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{}}})
	_ = p.ws.WriteMessage(websocket.BinaryMessage, b)
	_ = p.ws.Close()
	<-p.closed
}

// receiver is an integrator's webhook endpoint: it verifies each delivery
// (both signatures, the timestamp), keeps each event once by its id, and
// can hold requests of one event name until released.
type receiver struct {
	srv *http.Server
	url string

	mu       sync.Mutex
	events   map[string]string // event id → event name
	order    []string          // event ids in arrival order
	requests map[string]int    // event name → requests
	held     chan heldRequest  // requests being held
	hold     string            // event name whose requests are held
	release  chan struct{}
	secret   string
}

// heldRequest is a request the receiver holds, with the port it came from.
type heldRequest struct {
	eventID    string
	remotePort int
}

func (w *world) receiver() *receiver {
	w.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	r := &receiver{url: "http://" + ln.Addr().String() + "/hook", events: map[string]string{}, requests: map[string]int{},
		held: make(chan heldRequest, 16), release: make(chan struct{})}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = r.srv.Serve(ln) }()
	w.t.Cleanup(func() {
		r.releaseAll()
		_ = r.srv.Close()
		<-done
	})
	return r
}

func (r *receiver) setSecret(s string) { r.mu.Lock(); r.secret = s; r.mu.Unlock() }

// holdNext makes the receiver hold every request of event name until
// releaseAll.
func (r *receiver) holdNext(name string) { r.mu.Lock(); r.hold = name; r.mu.Unlock() }

func (r *receiver) releaseAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold = ""
	select {
	case <-r.release:
	default:
		close(r.release)
	}
}

func (r *receiver) serve(rw http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<16))
	r.mu.Lock()
	secret, hold := r.secret, r.hold
	r.mu.Unlock()
	id, b, err := webhook.VerifyHeaders(secret, req.Header, body, time.Now(), time.Minute)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusUnauthorized)
		return
	}
	name := string(b.EventName)
	r.mu.Lock()
	r.requests[name]++
	r.mu.Unlock()
	if hold != "" && name == hold {
		_, port, _ := net.SplitHostPort(req.RemoteAddr)
		p, _ := strconv.Atoi(port)
		r.held <- heldRequest{eventID: id, remotePort: p}
		select {
		case <-r.release:
		case <-req.Context().Done():
			return // the sender died: nothing was acknowledged
		}
	}
	r.mu.Lock()
	if _, seen := r.events[id]; !seen {
		r.events[id] = name
		r.order = append(r.order, id)
	}
	r.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

// got lists the event names received, each event once, in order.
func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.order))
	for i, id := range r.order {
		out[i] = r.events[id]
	}
	return out
}

// ownerOf finds which of procs holds the TCP connection whose local port
// is port (this machine's /proc: the socket's inode in /proc/net/tcp, then
// the process whose descriptors include it).
func ownerOf(port int, procs ...*proc) (*proc, error) {
	inode := ""
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[0] == "sl" {
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			pb, err := hex.DecodeString(hexPort)
			if err != nil || len(pb) != 2 || int(pb[0])<<8|int(pb[1]) != port {
				continue
			}
			inode = fields[9]
		}
	}
	if inode == "" || inode == "0" {
		return nil, fmt.Errorf("no socket with local port %d", port)
	}
	want := "socket:[" + inode + "]"
	for _, p := range procs {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.pid()))
		for _, fd := range fds {
			if link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p.pid(), fd.Name())); err == nil && link == want {
				return p, nil
			}
		}
	}
	return nil, fmt.Errorf("no process of the test holds socket %s", inode)
}
