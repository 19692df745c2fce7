package record

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/webhook"
	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/testenv"
)

// Ports inside the namespaces: each process has an address of its own.
const (
	apiPort    = "8080"
	signalPort = "7880"
	rtcPort    = "7882"
)

// proc is a spacecast process in its namespace.
type proc struct {
	name   string
	host   *netns.Host
	args   []string
	cmd    *exec.Cmd
	stderr string
	done   chan error
}

func (p *proc) addr() string { return p.host.Addr().String() }

// world is a control plane and an edge, a host for publishers, the
// storage both use and an integrator's webhook receiver.
type world struct {
	t       *testing.T
	ctx     context.Context
	bin     string
	dir     string
	env     []string
	net     *netns.Network
	cp      *proc
	edge    *proc
	pubs    *netns.Host
	api     string // http://cp:8080/v1
	storage string // the storage's folder (local)
	recDir  string // the edge's recording folder
	hc      *http.Client
	client  struct{ ID, Secret string }
	hooks   *receiver
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newWorld builds spacecast and starts the control plane and the edge.
func newWorld(t *testing.T, ctx context.Context) *world {
	t.Helper()
	testenv.Need(t, "network namespaces", netns.Available())
	_, err := exec.LookPath("ffmpeg")
	if err == nil {
		_, err = exec.LookPath("ffprobe")
	}
	testenv.Need(t, "ffmpeg and ffprobe", err)
	w := &world{t: t, ctx: ctx, dir: t.TempDir(), hc: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	w.storage, w.recDir = filepath.Join(w.dir, "storage"), filepath.Join(w.dir, "recording")
	// SC_RECORD_BIN names a prebuilt binary (debugging); by default the
	// test builds the one of this tree.
	if w.bin = os.Getenv("SC_RECORD_BIN"); w.bin == "" {
		w.bin = filepath.Join(w.dir, "spacecast")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", w.bin, "../../cmd/spacecast").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	if w.net, err = netns.NewNetwork(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.net.Close() })
	key, secret := "reckey", randomHex(24)
	urlKey := make([]byte, 32)
	_, _ = rand.Read(urlKey)
	w.env = append(os.Environ(),
		clusterkey.EnvAPIKeys+"="+key+":"+secret,
		clusterkey.EnvSigningKey+"="+key,
		clusterkey.EnvTURNSecrets+"="+randomHex(16),
		"SPACECAST_STORAGE_URL_KEY="+base64.StdEncoding.EncodeToString(urlKey),
	)
	w.hooks = newReceiver(t, w.net.Gateway().String())
	cpHost, err := w.net.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	edgeHost, err := w.net.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.pubs, err = w.net.AddHost(ctx); err != nil {
		t.Fatal(err)
	}
	w.startControlPlane(cpHost, edgeHost)
	w.edge = &proc{name: "edge", host: edgeHost, args: []string{"edge", "--config", w.edgeConfig(edgeHost)}}
	w.run(w.edge)
	w.eventually("the edge ready", 20*time.Second, func() bool { return w.ready("http://" + w.edge.addr() + ":" + signalPort + "/readyz") })
	return w
}

func (w *world) write(name, body string) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) startControlPlane(h, edge *netns.Host) {
	w.t.Helper()
	data := filepath.Join(w.dir, "cp-data")
	out, err := exec.CommandContext(w.ctx, w.bin, "admin", "client", "create", "--data", data, "--name", "rec", "--json").Output()
	if err != nil {
		w.t.Fatalf("admin client create: %v", err)
	}
	if err := json.Unmarshal(out, &struct {
		ClientID     *string
		ClientSecret *string
	}{&w.client.ID, &w.client.Secret}); err != nil {
		w.t.Fatalf("admin output %s: %v", out, err)
	}
	ip := h.Addr().String()
	cfg := w.write("cp.yaml", fmt.Sprintf(`log: {level: info}
controlplane:
  listen: %[1]s:%[2]s
  publicURL: http://%[1]s:%[2]s
  rateLimit: {joinPerAddress: {rate: 0}, guestJoinPerAddress: {rate: 0}}
  devEdge: {url: "ws://%[3]s:%[4]s", nodeId: edge-1, region: local}
store: {dataDir: %[5]s}
webhooks:
  allow: [%[6]s/32]          # the test's receiver
  retryBackoff: 100ms
  calls: {finishGrace: 1s, edgeTTL: 4s, sweep: 250ms}
storage:
  kind: local
  local: {dir: %[7]s}
`, ip, apiPort, edge.Addr(), signalPort, data, w.net.Gateway(), w.storage))
	w.cp = &proc{name: "controlplane", host: h, args: []string{"controlplane", "--config", cfg}}
	w.api = "http://" + ip + ":" + apiPort + "/v1"
	w.run(w.cp)
	w.eventually("the control plane ready", 20*time.Second, func() bool { return w.ready("http://" + ip + ":" + apiPort + "/readyz") })
}

// edgeConfig is the edge's config file: it records into recDir, stores
// into the storage folder and reports to the control plane often.
func (w *world) edgeConfig(h *netns.Host) string {
	ip := h.Addr().String()
	return w.write("edge.yaml", fmt.Sprintf(`log: {level: info}
edge:
  listen: %[1]s:%[2]s
  publicURL: ws://%[1]s:%[2]s
  nodeID: edge-1
  region: local
  rtc: {udpPort: %[3]s, bindIP: %[1]s}
  room: {emptyTimeout: 2s}
turn: {enabled: false}
report:
  url: http://%[4]s:%[5]s
  snapshotInterval: 1s
recording:
  dir: %[6]s
  emptyGrace: 2s
  compose: {width: 640, height: 360, fps: 25, threads: 2}
storage:
  kind: local
  local: {dir: %[7]s}
`, ip, signalPort, rtcPort, w.cp.addr(), apiPort, w.recDir, w.storage))
}

func (w *world) ready(url string) bool {
	resp, err := w.hc.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// run starts p (again); its stderr goes to a file, shown when the test
// fails.
func (w *world) run(p *proc) {
	w.t.Helper()
	p.stderr = filepath.Join(w.dir, p.name+".stderr")
	f, err := os.OpenFile(p.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	p.cmd = p.host.Command(w.ctx, w.bin, p.args...)
	p.cmd.Env = w.env
	p.cmd.Stderr = f
	if err := p.cmd.Start(); err != nil {
		w.t.Fatalf("start %s: %v", p.name, err)
	}
	p.done = make(chan error, 1)
	cmd, done := p.cmd, p.done
	go func() { done <- cmd.Wait() }()
	w.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		done <- nil
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

// kill ends p with SIGKILL: a crash, nothing said to anyone.
func (w *world) kill(p *proc) {
	w.t.Helper()
	_ = p.cmd.Process.Kill()
	err := <-p.done
	p.done <- err
}

// eventually polls cond until it holds or d passes.
func (w *world) eventually(what string, d time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("after %s: %s did not happen", d, what)
		}
		select {
		case <-w.ctx.Done():
			w.t.Fatalf("%s: %v", what, w.ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// call sends a JSON request to the API; out gets a 2xx answer's body
// (decoded JSON, or the raw bytes into a *[]byte).
func (w *world) call(method, path, token string, body, out any) int {
	w.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(w.ctx, method, w.api+path, r)
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
	if resp.StatusCode/100 != 2 {
		w.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
		return resp.StatusCode
	}
	switch o := out.(type) {
	case nil:
	case *[]byte:
		*o = b
	default:
		if err := json.Unmarshal(b, out); err != nil {
			w.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// owner signs in a user who owns a public space with a webhook to the
// test's receiver; it returns the user token and the space id.
func (w *world) owner() (token, space string) {
	w.t.Helper()
	var ct, ut struct {
		AccessToken string `json:"access_token"`
	}
	if c := w.call("POST", "/auth/token", "", map[string]string{"grant_type": "client_credentials", "client_id": w.client.ID, "client_secret": w.client.Secret}, &ct); c != 200 {
		w.t.Fatalf("client token: %d", c)
	}
	if c := w.call("POST", "/users", ct.AccessToken, map[string]string{"email": "host@example.com", "password": "correct horse battery", "username": "Host"}, nil); c/100 != 2 {
		w.t.Fatalf("create user: %d", c)
	}
	if c := w.call("POST", "/auth/token", "", map[string]string{"grant_type": "password", "client_id": w.client.ID, "client_secret": w.client.Secret,
		"username": "host@example.com", "password": "correct horse battery"}, &ut); c != 200 {
		w.t.Fatalf("user token: %d", c)
	}
	var sp struct {
		ID string `json:"id"`
	}
	if c := w.call("POST", "/spaces", ut.AccessToken, map[string]any{"name": "Recorded", "isPublic": true}, &sp); c/100 != 2 {
		w.t.Fatalf("create space: %d", c)
	}
	var hook struct {
		Secret string `json:"secret"`
	}
	if c := w.call("POST", "/spaces/"+sp.ID+"/webhook", ut.AccessToken, map[string]any{"url": w.hooks.URL + "/hook"}, &hook); c/100 != 2 {
		w.t.Fatalf("create webhook: %d", c)
	}
	w.hooks.secret = hook.Secret
	return ut.AccessToken, sp.ID
}

type room struct{ id, alias string }

func (w *world) room(token, space string, flags map[string]any) room {
	w.t.Helper()
	body := map[string]any{"name": "call", "isPublic": true, "type": "lesson"}
	for k, v := range flags {
		body[k] = v
	}
	var r struct {
		ID    string `json:"id"`
		Alias string `json:"alias"`
	}
	if c := w.call("POST", "/spaces/"+space+"/rooms", token, body, &r); c/100 != 2 {
		w.t.Fatalf("create room: %d", c)
	}
	return room{id: r.ID, alias: r.Alias}
}

// guest joins rm with a generate-access link as name: the edge's URL and
// a media token.
func (w *world) guest(token, space string, rm room, name string) (edgeURL, media string) {
	w.t.Helper()
	var link struct {
		AccessToken string `json:"accessToken"`
	}
	if c := w.call("POST", "/spaces/"+space+"/rooms/"+rm.id+"/generate-access", token, map[string]any{"username": name, "role": "user"}, &link); c != 200 {
		w.t.Fatalf("generate-access: %d", c)
	}
	var ans struct {
		MediaToken string `json:"mediaToken"`
		Edge       struct {
			URL string `json:"url"`
		} `json:"edge"`
	}
	if c := w.call("POST", "/rooms/"+rm.alias+"/join", "", map[string]any{"accessToken": link.AccessToken}, &ans); c != 200 {
		w.t.Fatalf("join: %d", c)
	}
	return ans.Edge.URL, ans.MediaToken
}

// media makes the test patterns: an IVF file of VP8 per pattern (320×240,
// 30 fps, a keyframe a second) and an Ogg file of Opus (a tone, 20 ms a
// page), each seconds long.
func (w *world) media(seconds int, patterns ...string) (ivf []string, ogg string) {
	w.t.Helper()
	run := func(args ...string) {
		w.t.Helper()
		cmd := exec.CommandContext(w.ctx, "ffmpeg", append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			w.t.Fatalf("ffmpeg %v: %v: %s", args, err, out)
		}
	}
	for i, p := range patterns {
		out := filepath.Join(w.dir, fmt.Sprintf("p%d.ivf", i))
		run("-f", "lavfi", "-i", fmt.Sprintf("%s=size=320x240:rate=30:duration=%d", p, seconds),
			"-c:v", "libvpx", "-b:v", "400k", "-g", "30", "-keyint_min", "30", "-deadline", "realtime", "-cpu-used", "8", "-auto-alt-ref", "0", out)
		ivf = append(ivf, out)
	}
	ogg = filepath.Join(w.dir, "tone.ogg")
	run("-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", seconds),
		"-ac", "2", "-c:a", "libopus", "-b:a", "48k", "-frame_duration", "20", "-page_duration", "20000", ogg)
	return ivf, ogg
}

// publisher is an SDK participant publishing a pattern and a tone.
type publisher struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan event
	done   chan struct{}
}

func (w *world) publish(name, edgeURL, token, ivf, ogg string) *publisher {
	w.t.Helper()
	cmd := w.pubs.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), publisherEnv+"=1", "SC_URL="+edgeURL, "SC_TOKEN="+token, "SC_IVF="+ivf, "SC_OGG="+ogg)
	stderr, err := os.Create(filepath.Join(w.dir, name+".stderr"))
	if err != nil {
		w.t.Fatal(err)
	}
	cmd.Stderr = stderr
	p := &publisher{cmd: cmd, events: make(chan event, 64), done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		w.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	stderr.Close()
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				p.events <- e
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	w.t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.done })
	published := 0
	deadline := time.After(30 * time.Second)
	for published < 2 {
		select {
		case e, ok := <-p.events:
			if !ok {
				w.t.Fatalf("publisher %s exited", name)
			}
			switch e.Ev {
			case "error":
				w.t.Fatalf("publisher %s: %s", name, e.Msg)
			case "published":
				published++
			}
		case <-deadline:
			w.t.Fatalf("publisher %s did not publish", name)
		}
	}
	go func() {
		for e := range p.events {
			if e.Ev == "error" {
				w.t.Errorf("publisher %s: %s", name, e.Msg)
			}
		}
	}()
	return p
}

// leave ends the publisher (it disconnects).
func (p *publisher) leave() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// receiver is an integrator's webhook endpoint on the bridge's gateway
// (what the control plane's namespace reaches); it keeps the verified
// deliveries.
type receiver struct {
	URL    string
	srv    *http.Server
	secret string

	mu     sync.Mutex
	bodies []webhook.Body
	bad    []string
}

func newReceiver(t *testing.T, ip string) *receiver {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{URL: "http://" + ln.Addr().String()}
	r.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		// Verified as the docs tell integrators: HMAC over the raw body.
		body, err := webhook.Verify(r.secret, b)
		if err != nil {
			r.bad = append(r.bad, string(b))
		} else {
			r.bodies = append(r.bodies, body)
		}
		rw.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { _ = r.srv.Close() })
	return r
}

// event waits for a verified delivery of name (of record id, when set).
func (r *receiver) event(w *world, name, id string, d time.Duration) webhook.Body {
	w.t.Helper()
	var got webhook.Body
	w.eventually(name+" delivered", d, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.bad) > 0 {
			w.t.Fatalf("deliveries whose signature does not verify: %v", r.bad)
		}
		for _, b := range r.bodies {
			if string(b.EventName) == name && (id == "" || b.RecordID == id) {
				got = b
				return true
			}
		}
		return false
	})
	return got
}

// probe is what ffprobe says of a file.
type probe struct {
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Duration  string `json:"duration"`
	} `json:"streams"`
}

func (w *world) probe(path string) probe {
	w.t.Helper()
	out, err := exec.CommandContext(w.ctx, "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path).Output()
	if err != nil {
		w.t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		w.t.Fatalf("ffprobe %s: %v", path, err)
	}
	return p
}

func (p probe) seconds() float64 {
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return d
}

// ffmpeg runs path through ffmpeg with args (a filter, a null output) and
// returns what it reports, failing the test on an error.
func (w *world) ffmpeg(path string, args ...string) string {
	w.t.Helper()
	cmd := exec.CommandContext(w.ctx, "ffmpeg", append(append([]string{"-hide_banner", "-nostdin", "-i", path}, args...), "-f", "null", "-")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		w.t.Fatalf("ffmpeg %v on %s: %v: %s", args, path, err, stderr.String())
	}
	return stderr.String()
}

var maxVolume = regexp.MustCompile(`max_volume: (-?[0-9.]+) dB`)

// checkComposed: H.264 and AAC that decode end to end without an error,
// the duration, no black picture, sound.
func (w *world) checkComposed(path string, want float64) {
	w.t.Helper()
	p := w.probe(path)
	var codecs []string
	for _, s := range p.Streams {
		codecs = append(codecs, s.CodecName)
	}
	if strings.Join(codecs, ",") != "h264,aac" {
		w.t.Errorf("composed streams %v, want h264,aac", codecs)
	}
	if d := p.seconds(); d < want-1 || d > want+1 {
		w.t.Errorf("composed duration %.3f s, want %.3f ± 1 s", d, want)
	}
	if msg := w.ffmpeg(path, "-v", "error"); strings.TrimSpace(msg) != "" {
		w.t.Errorf("the composed file does not decode cleanly: %s", msg)
	}
	if rep := w.ffmpeg(path, "-vf", "blackdetect=d=0.1:pix_th=0.10", "-an"); strings.Contains(rep, "black_start") {
		w.t.Errorf("black frames in the composed file: %s", rep)
	}
	m := maxVolume.FindStringSubmatch(w.ffmpeg(path, "-af", "volumedetect", "-vn"))
	if m == nil {
		w.t.Fatal("no volume measured")
	}
	if v, _ := strconv.ParseFloat(m[1], 64); v < -30 {
		w.t.Errorf("composed max volume %.1f dB: silent", v)
	}
}
