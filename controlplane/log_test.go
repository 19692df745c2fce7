package controlplane

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacecast/spacecast/controlplane/metrics"
	"github.com/spacecast/spacecast/internal/requestid"
)

// TestNoSecretLogged: with the access log on (info), a whole flow leaves no
// secret, token, password, query string or raw path in the log, while
// every request is logged by its route pattern.
func TestNoSecretLogged(t *testing.T) {
	var buf syncBuffer
	e := start(t, envOpts{logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	w := e.buildWorld(t, "alpha")
	link := e.must(t, 200, "POST", "/v1/spaces/"+w.space+"/rooms/"+w.room+"/generate-access", w.owner.userToken,
		map[string]any{"username": "g", "role": "user"}).str(t, "url")
	u, _ := url.Parse(link)
	tok := u.Query().Get("accessToken")
	ans := e.must(t, 200, "POST", "/v1/rooms/"+w.alias+"/join", "", map[string]any{"accessToken": tok}).json(t)
	e.must(t, 404, "GET", "/v1/spaces/ffffffffffffffffffffffff?accessToken="+tok, w.owner.userToken, nil)
	log := buf.String()
	for _, want := range []string{"route=/v1/rooms/{alias}/join", "route=/v1/spaces/{spaceId}/rooms/{roomId}/generate-access", "route=/v1/auth/token"} {
		if !strings.Contains(log, want) {
			t.Errorf("the access log has no %s:\n%s", want, log)
		}
	}
	for name, secret := range map[string]string{"client secret": w.owner.secret, "client token": w.owner.clientToken,
		"user token": w.owner.userToken, "password": w.owner.password, "link token": tok,
		"media token": ans["mediaToken"].(string), "session": ans["session"].(map[string]any)["token"].(string),
		"room alias (a raw path)": w.alias, "space id (a raw path)": w.space, "query string": "accessToken="} {
		if strings.Contains(log, secret) {
			t.Errorf("the log contains the %s", name)
		}
	}
}

// TestAccessLog: one JSON line per request at info with the method, route
// pattern, status, latency, client address and request id; probes at
// debug only.
func TestAccessLog(t *testing.T) {
	var buf syncBuffer
	e := start(t, envOpts{logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	before := len(buf.String()) // start polled /readyz: probes are not logged at info
	if before != 0 {
		t.Errorf("probes logged at info:\n%s", buf.String())
	}
	r := e.do(t, "GET", "/v1/regions", "", nil)
	e.do(t, "GET", "/no/such/path", "", nil)
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if m["msg"] == "http request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("%d access-log lines, want 2: %v", len(lines), lines)
	}
	got := lines[0]
	if got["level"] != "INFO" || got["method"] != "GET" || got["route"] != "/v1/regions" || got["status"] != float64(200) ||
		got["client"] != "127.0.0.1" || got["request_id"] != r.header.Get(requestid.Header) || got["latency"] == nil {
		t.Errorf("access-log line %v; want GET /v1/regions 200 from 127.0.0.1 with the answered request id", got)
	}
	if lines[1]["route"] != "unmatched" || lines[1]["status"] != float64(404) {
		t.Errorf("unmatched request logged as %v", lines[1])
	}
}

// TestRequestID: a client's safe X-Request-Id is kept, answered and
// carried into the media token of its join; a missing or unsafe one is
// replaced by a fresh id.
func TestRequestID(t *testing.T) {
	var buf syncBuffer
	e := start(t, envOpts{logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	w := e.buildWorld(t, "alpha")
	join := func(id string) (string, string) {
		t.Helper()
		req, err := http.NewRequest("POST", e.base+"/v1/rooms/"+w.alias+"/join", bytes.NewReader([]byte("{}")))
		if err != nil {
			t.Fatal(err)
		}
		if id != "" {
			req.Header.Set(requestid.Header, id)
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var ans struct {
			MediaToken string `json:"mediaToken"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(b, &ans) != nil {
			t.Fatalf("join: %d %s", resp.StatusCode, b)
		}
		return resp.Header.Get(requestid.Header), requestid.FromToken(ans.MediaToken)
	}
	answered, inToken := join("trace-0af7651916cd43dd")
	if answered != "trace-0af7651916cd43dd" || inToken != answered {
		t.Errorf("client id: answered %q, in the media token %q", answered, inToken)
	}
	if !strings.Contains(buf.String(), "request_id=trace-0af7651916cd43dd") {
		t.Errorf("the client's request id is not in the access log")
	}
	for name, id := range map[string]string{"none": "", "unsafe": "a b\"c", "too long": strings.Repeat("x", requestid.MaxLen+1)} {
		answered, inToken := join(id)
		if !requestid.Valid(answered) || answered == id || inToken != answered {
			t.Errorf("%s: answered %q, in the media token %q; want one fresh id", name, answered, inToken)
		}
	}
	if strings.Contains(buf.String(), "a b") {
		t.Errorf("an unsafe request id reached the log")
	}
}

// TestRequestIDAdmittedFromWaiting: a participant let in from the waiting
// room gets its media token from its poll, which carries the poll's
// request id; the join that made it wait is counted as waiting.
func TestRequestIDAdmittedFromWaiting(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, envOpts{metrics: m})
	cl := e.newClient(t, "acme")
	owner := e.newUser(t, cl, "owner@acme.test")
	sp := e.must(t, 201, "POST", "/v1/spaces", owner.userToken, map[string]any{"name": "S", "isPublic": true}).str(t, "id")
	l := newLobby(t, e, owner, sp, "guests")
	ticket := l.join(t, 202, "", map[string]any{"accessToken": l.link(t, "Gus", "user", false)}).str(t, "ticket")
	e.must(t, 200, "POST", l.path+"/waiting/"+l.entry(t, "Gus")+"/admit", owner.userToken, nil)
	body, _ := json.Marshal(map[string]any{"ticket": ticket, "wait": 0})
	req, err := http.NewRequest("POST", e.base+"/v1/rooms/"+l.alias+"/wait", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(requestid.Header, "poll-1")
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans struct {
		MediaToken string `json:"mediaToken"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 {
		t.Fatalf("poll after admission: %d %v", resp.StatusCode, err)
	}
	if id := requestid.FromToken(ans.MediaToken); id != "poll-1" {
		t.Errorf("the admitted participant's media token carries request id %q, want poll-1", id)
	}
	if v := series(t, reg)["spacecast_controlplane_joins_total{edge_region=none,outcome=waiting}"]; v != 1 {
		t.Errorf("%v joins counted as waiting, want 1", v)
	}
}
