package security

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/spacecast/spacecast/internal/testenv"
)

// browser is a headless Chromium driven over the DevTools protocol (one
// connection, one caller: every reply is read by the call that waits for
// it, so no goroutine is left behind).
type browser struct {
	conn *websocket.Conn
	next int
}

// devtoolsLine finds the browser's DevTools endpoint in its stderr.
var devtoolsLine = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// endpointWriter takes Chromium's stderr and reports the DevTools URL once.
type endpointWriter struct {
	mu   sync.Mutex
	buf  []byte
	url  chan string
	sent bool
}

func (w *endpointWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.sent {
		w.buf = append(w.buf, p...)
		if m := devtoolsLine.FindSubmatch(w.buf); m != nil {
			w.url <- string(m[1])
			w.sent, w.buf = true, nil
		}
	}
	return len(p), nil
}

// startBrowser launches headless Chromium, or skips (fails in CI) without
// it. The process group is killed at cleanup.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	testenv.Need(t, "chromium", err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.Command(chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--user-data-dir="+t.TempDir(), "about:blank")
	w := &endpointWriter{url: make(chan string, 1)}
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test started
		<-exited
	})
	var url string
	select {
	case url = <-w.url:
	case err := <-exited:
		t.Fatalf("chromium exited: %v", err)
	case <-ctx.Done():
		t.Fatal("chromium did not start")
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &browser{conn: conn}
}

// call sends one DevTools command (to session when not empty) and decodes
// its result into out.
func (b *browser) call(session, method string, params, out any) error {
	b.next++
	id := b.next
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	if err := b.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	if err := b.conn.WriteJSON(msg); err != nil {
		return fmt.Errorf("devtools %s: %w", method, err)
	}
	if err := b.conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return err
	}
	for {
		var reply struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := b.conn.ReadJSON(&reply); err != nil {
			return fmt.Errorf("devtools %s: %w", method, err)
		}
		if reply.ID != id {
			continue // an event, or another session's message
		}
		if reply.Error != nil {
			return fmt.Errorf("devtools %s: %s", method, reply.Error.Message)
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(reply.Result, out)
	}
}

// page is one tab.
type page struct {
	b       *browser
	session string
}

// open loads url in a new tab.
func (b *browser) open(t *testing.T, url string) *page {
	t.Helper()
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call("", "Target.createTarget", map[string]any{"url": url}, &target); err != nil {
		t.Fatal(err)
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	return &page{b: b, session: att.SessionID}
}

// eval evaluates a JavaScript expression in the page and returns its value.
func (p *page) eval(expr string) (any, error) {
	var res struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := p.b.call(p.session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return nil, err
	}
	if res.ExceptionDetails != nil {
		return nil, errors.New(res.ExceptionDetails.Text)
	}
	return res.Result.Value, nil
}
