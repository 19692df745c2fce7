package browser

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/testenv"
)

// driver is one headless Chromium inside the stack's namespace, driven by
// playwright-core through driver.mjs (one JSON command per line).
type driver struct {
	t    *testing.T
	in   io.WriteCloser
	out  *bufio.Scanner
	mu   sync.Mutex
	next int
}

// needDriver returns chromium's path after checking node and
// playwright-core, or skips (fails in CI).
func needDriver(t *testing.T) string {
	t.Helper()
	chromium := need(t)
	_, nodeErr := exec.LookPath("node")
	_, pwErr := os.Stat("node_modules/playwright-core")
	testenv.Need(t, "node and playwright-core (npm ci in tests/browser)", errors.Join(nodeErr, pwErr))
	return chromium
}

// chromiumArgs are the flags every test browser gets: fake camera,
// microphone and screen, and the given http origins treated as secure.
func chromiumArgs(secure []string) []string {
	return []string{
		"--no-sandbox", "--disable-gpu",
		"--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
		"--autoplay-policy=no-user-gesture-required",
		"--unsafely-treat-insecure-origin-as-secure=" + strings.Join(secure, ","),
	}
}

// startDriver launches driver.mjs (and so Chromium) in the stack's
// namespace. Its stderr (page consoles) goes to artifacts/.../name.log.
func (s *stack) startDriver(t *testing.T, ctx context.Context, chromium, name string, secure ...string) *driver {
	t.Helper()
	args, _ := json.Marshal(append(chromiumArgs(append(secure, s.api)), s.chromium...))
	cmd := s.host.Command(ctx, "node", "driver.mjs")
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "CHROMIUM_ARGS="+string(args))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logf, err := os.Create(filepath.Join(artifacts(t), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = in.Close() // driver.mjs closes the browser and exits
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // any Chromium helper left behind
		_ = logf.Close()
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return &driver{t: t, in: in, out: sc}
}

type reply struct {
	ID    int             `json:"id"`
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

// try sends one command and waits for its answer.
func (d *driver) try(cmd map[string]any) (json.RawMessage, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.next++
	cmd["id"] = d.next
	b, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := d.in.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	for d.out.Scan() {
		var r reply
		if json.Unmarshal(d.out.Bytes(), &r) != nil || r.ID != d.next {
			continue
		}
		if !r.OK {
			return nil, fmt.Errorf("%s: %s", cmd["op"], r.Error)
		}
		return r.Value, nil
	}
	return nil, fmt.Errorf("driver exited (see its log): %v", d.out.Err())
}

func (d *driver) do(t *testing.T, cmd map[string]any) json.RawMessage {
	t.Helper()
	v, err := d.try(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// page is one browser context and its page.
type page struct {
	d     *driver
	name  string
	frame string // a URL substring: commands go to that frame of the page
}

// in is the page's frame whose URL contains sub.
func (p *page) in(sub string) *page { return &page{d: p.d, name: p.name, frame: sub} }

func (d *driver) open(t *testing.T, name, url string, width, height int) *page {
	t.Helper()
	return d.openWith(t, name, url, width, height, nil)
}

// openWith opens a page with further options of driver.mjs's open (init,
// delay).
func (d *driver) openWith(t *testing.T, name, url string, width, height int, opts map[string]any) *page {
	t.Helper()
	cmd := map[string]any{"op": "open", "page": name, "url": url, "width": width, "height": height}
	for k, v := range opts {
		cmd[k] = v
	}
	d.do(t, cmd)
	return &page{d: d, name: name}
}

func (p *page) op(t *testing.T, op string, kv ...any) json.RawMessage {
	t.Helper()
	cmd := map[string]any{"op": op, "page": p.name}
	if p.frame != "" {
		cmd["frame"] = p.frame
	}
	for i := 0; i+1 < len(kv); i += 2 {
		cmd[kv[i].(string)] = kv[i+1]
	}
	return p.d.do(t, cmd)
}

func (p *page) click(t *testing.T, sel string) { t.Helper(); p.op(t, "click", "selector", sel) }
func (p *page) hover(t *testing.T, sel string) { t.Helper(); p.op(t, "hover", "selector", sel) }

// eval decodes the value of the JavaScript expression js into out.
func (p *page) eval(t *testing.T, js string, out any) {
	t.Helper()
	if err := json.Unmarshal(p.op(t, "eval", "js", js), out); err != nil {
		t.Fatalf("%s: eval %s: %v", p.name, js, err)
	}
}

// state is the page's own report of itself (window.__spacecast.state()).
type state struct {
	Screen            string   `json:"screen"`
	Code              string   `json:"code"`
	Ended             string   `json:"ended"`
	Status            string   `json:"status"`
	FramesDecoded     float64  `json:"framesDecoded"`
	PublishControls   int      `json:"publishControls"`
	ModeratorControls int      `json:"moderatorControls"`
	HandsRaised       int      `json:"handsRaised"`
	Tiles             int      `json:"tiles"`
	ScreenTiles       int      `json:"screenTiles"`
	Lobby             []string `json:"lobby"`
	Chat              []string `json:"chat"`
	ToolbarReady      bool     `json:"toolbarReady"`
	Role              string   `json:"role"`
	Microphone        bool     `json:"microphoneEnabled"`
	Camera            bool     `json:"cameraEnabled"`
	Connection        string   `json:"connection"`
	RemoteTracks      int      `json:"remoteTracks"`
	LoadToJoinedMs    *float64 `json:"loadToJoinedMs"`
	NavToJoinedMs     *float64 `json:"navigationToJoinedMs"`
}

func (p *page) state(t *testing.T) state {
	t.Helper()
	var s state
	p.eval(t, "window.__spacecast ? window.__spacecast.state() : {}", &s)
	return s
}

// until polls the page's state until ok or the context ends.
func (p *page) until(t *testing.T, ctx context.Context, what string, ok func(state) bool) state {
	t.Helper()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		s := p.state(t)
		if ok(s) {
			return s
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			p.shot(t, "failed-"+p.name)
			t.Fatalf("%s: never %s; last state %+v", p.name, what, s)
		}
	}
}

// shot saves a screenshot of the page as a test artifact (kept with
// go test -artifacts -outputdir DIR) and under artifacts/browser/ at the
// repository root.
func (p *page) shot(t *testing.T, name string) {
	t.Helper()
	out := filepath.Join(t.ArtifactDir(), name+".png")
	if _, err := p.d.try(map[string]any{"op": "screenshot", "page": p.name, "path": out}); err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if b, err := os.ReadFile(out); err == nil {
		_ = os.WriteFile(filepath.Join(artifacts(t), name+".png"), b, 0o644)
	}
	t.Logf("screenshot: %s", out)
}

func jsonOf(raw json.RawMessage, out any) error { return json.Unmarshal(raw, out) }
