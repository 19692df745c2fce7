package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// devProcess is `spacecast dev` run in-process through run().
type devProcess struct {
	api, edge string
	cancel    context.CancelFunc
	done      chan int
	stderr    *bytes.Buffer
}

var (
	apiLine  = regexp.MustCompile(`API\s+(http://\S+)/v1`)
	edgeLine = regexp.MustCompile(`edge\s+(ws://\S+)`)
)

func startDev(t *testing.T, data string) *devProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := &devProcess{cancel: cancel, done: make(chan int, 1), stderr: &bytes.Buffer{}}
	go func() {
		code := run(ctx, []string{"dev", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn"}, func(string) string { return "" }, strings.NewReader(""), pw, d.stderr)
		_ = pw.Close()
		d.done <- code
	}()
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				d.api = m[1]
			}
			if m := edgeLine.FindStringSubmatch(sc.Text()); m != nil {
				d.edge = m[1]
			}
			if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
				close(found)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case <-found:
	case code := <-d.done:
		t.Fatalf("spacecast dev exited with %d: %s", code, d.stderr)
	case <-time.After(30 * time.Second):
		t.Fatal("spacecast dev did not print its URLs")
	}
	return d
}

func (d *devProcess) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.done:
		if code != 0 {
			t.Fatalf("spacecast dev exited with %d: %s", code, d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("spacecast dev did not stop after its context was cancelled")
	}
}

// call sends a JSON request and decodes the JSON answer into out.
func call(t *testing.T, method, u, bearer string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, u, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// TestDevQuickStart runs the README's first command and then its curl
// walk-through, up to a join whose media token the edge accepts.
func TestDevQuickStart(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	defer d.stop(t)

	var creds devClientCreds
	b, err := os.ReadFile(filepath.Join(data, devClientFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &creds); err != nil || creds.ClientID == "" || creds.ClientSecret == "" {
		t.Fatalf("dev client file: %s (%v)", b, err)
	}
	api := d.api + "/v1"
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if c := call(t, "POST", api+"/auth/token", "", map[string]string{"client_id": creds.ClientID, "client_secret": creds.ClientSecret, "grant_type": "client_credentials"}, &tok); c != 200 || tok.AccessToken == "" {
		t.Fatalf("client token: %d", c)
	}
	if c := call(t, "POST", api+"/users", tok.AccessToken, map[string]string{"email": "ada@example.com", "password": "correct horse battery", "username": "Ada"}, nil); c != 200 && c != 201 {
		t.Fatalf("create user: %d", c)
	}
	var ut struct {
		AccessToken string `json:"access_token"`
	}
	if c := call(t, "POST", api+"/auth/token", "", map[string]string{"client_id": creds.ClientID, "client_secret": creds.ClientSecret, "grant_type": "password", "username": "ada@example.com", "password": "correct horse battery"}, &ut); c != 200 {
		t.Fatalf("user token: %d", c)
	}
	var space, room struct {
		ID string `json:"id"`
	}
	if c := call(t, "POST", api+"/spaces", ut.AccessToken, map[string]any{"name": "Team", "isPublic": false}, &space); c/100 != 2 {
		t.Fatalf("create space: %d", c)
	}
	if c := call(t, "POST", api+"/spaces/"+space.ID+"/rooms", ut.AccessToken, map[string]any{"name": "Standup", "isPublic": false, "type": "lesson", "isChatAllowed": true, "isScreensharingAllowed": true}, &room); c/100 != 2 {
		t.Fatalf("create room: %d", c)
	}
	var link struct {
		URL string `json:"url"`
	}
	if c := call(t, "POST", api+"/spaces/"+space.ID+"/rooms/"+room.ID+"/generate-access", ut.AccessToken, map[string]any{"username": "Grace", "role": "user"}, &link); c/100 != 2 {
		t.Fatalf("generate-access: %d", c)
	}
	lu, err := url.Parse(link.URL)
	if err != nil || !strings.HasPrefix(link.URL, d.api+"/room/") {
		t.Fatalf("link %q does not point at this server's room page", link.URL)
	}
	alias := strings.TrimPrefix(lu.Path, "/room/")
	// The link opens the room page, framed only by this origin (the space
	// allows no other).
	pageResp, err := http.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	pageBody, _ := io.ReadAll(pageResp.Body)
	pageResp.Body.Close()
	if pageResp.StatusCode != 200 || !strings.Contains(string(pageBody), "/assets/app.js") ||
		!strings.HasSuffix(pageResp.Header.Get("Content-Security-Policy"), "frame-ancestors 'self'") {
		t.Fatalf("room page: %d %q", pageResp.StatusCode, pageResp.Header.Get("Content-Security-Policy"))
	}
	var join struct {
		Name       string `json:"name"`
		MediaToken string `json:"mediaToken"`
		Edge       struct {
			URL string `json:"url"`
		} `json:"edge"`
		ICEServers []struct {
			URLs []string `json:"urls"`
		} `json:"iceServers"`
	}
	body := map[string]string{"accessToken": lu.Query().Get("accessToken")}
	if c := call(t, "POST", api+"/rooms/"+alias+"/join", "", body, &join); c != 200 {
		t.Fatalf("join: %d", c)
	}
	if join.Name != "Grace" || join.Edge.URL != d.edge || join.MediaToken == "" || len(join.ICEServers) == 0 {
		t.Fatalf("join answer: %+v (edge printed as %s)", join, d.edge)
	}
	if c := call(t, "POST", api+"/rooms/"+alias+"/join", "", body, nil); c != http.StatusGone {
		t.Fatalf("second join with the spent link: %d, want 410", c)
	}

	// The edge accepts the control plane's media token: both share the
	// generated cluster keys.
	v := "http" + strings.TrimPrefix(d.edge, "ws") + "/rtc/validate?access_token=" + url.QueryEscape(join.MediaToken)
	if c := call(t, "GET", v, "", nil, nil); c != 200 {
		t.Fatalf("edge /rtc/validate with the join's media token: %d", c)
	}
	if c := call(t, "GET", "http"+strings.TrimPrefix(d.edge, "ws")+"/rtc/validate?access_token=x"+url.QueryEscape(join.MediaToken), "", nil, nil); c != 401 {
		t.Fatalf("edge /rtc/validate with a tampered token: %d, want 401", c)
	}
}

// TestDevRestartKeepsState starts dev twice on one data folder: the API
// client and the cluster secrets survive, so tokens issued before still work.
func TestDevRestartKeepsState(t *testing.T) {
	data := t.TempDir()
	d := startDev(t, data)
	first, err := os.ReadFile(filepath.Join(data, devClientFile))
	if err != nil {
		t.Fatal(err)
	}
	var creds devClientCreds
	if err := json.Unmarshal(first, &creds); err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if c := call(t, "POST", d.api+"/v1/auth/token", "", map[string]string{"client_id": creds.ClientID, "client_secret": creds.ClientSecret, "grant_type": "client_credentials"}, &tok); c != 200 {
		t.Fatalf("client token: %d", c)
	}
	clusterBefore, _ := os.ReadFile(filepath.Join(data, devClusterFile))
	d.stop(t)

	d = startDev(t, data)
	defer d.stop(t)
	second, _ := os.ReadFile(filepath.Join(data, devClientFile))
	var after devClientCreds
	_ = json.Unmarshal(second, &after)
	clusterAfter, _ := os.ReadFile(filepath.Join(data, devClusterFile))
	// The client is kept (the file's addresses are rewritten: the ports
	// are ephemeral here).
	if after.ClientID != creds.ClientID || after.ClientSecret != creds.ClientSecret || !bytes.Equal(clusterBefore, clusterAfter) {
		t.Fatal("restart changed the dev client or the cluster secrets")
	}
	if after.APIURL != d.api || after.EdgeURL != d.edge || after.RTCPort == 0 || len(after.TURNURLs) == 0 {
		t.Fatalf("the client file records %s, %s, rtc port %d, TURN %v; want the restarted dev's %s and %s", after.APIURL, after.EdgeURL, after.RTCPort, after.TURNURLs, d.api, d.edge)
	}
	// A token from before the restart still works (the signing keys are in
	// the store): the client may create a user with it.
	if c := call(t, "POST", d.api+"/v1/users", tok.AccessToken, map[string]string{"email": "b@example.com", "password": "another long password", "username": "B"}, nil); c/100 != 2 {
		t.Fatalf("create user with a token from before the restart: %d", c)
	}
}

func TestDevBadFlags(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"dev", "--listen", "nope"}, func(string) string { return "" }, strings.NewReader(""), io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "--listen") {
		t.Fatalf("code %d, stderr %q", code, stderr.String())
	}
}
