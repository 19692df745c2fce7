package browser

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/clusterkey"
	"github.com/spacecast/spacecast/internal/netns"
	"github.com/spacecast/spacecast/internal/tlsconf/tlstest"
)

// TestRoomPageOverHTTPS: the control plane serves the API and the room
// page over HTTPS and the edge its signalling over WSS, both with a
// certificate of a test CA (Chromium trusts that certificate's key through
// --ignore-certificate-errors-spki-list, as a browser trusts a public
// CA's); two participants open their links in Chromium, join the edge over
// wss:// and decode each other's video. The servers run as `spacecast
// controlplane` and `spacecast edge` in a namespace of their own, the
// browser in another.
func TestRoomPageOverHTTPS(t *testing.T) {
	chromium := needDriver(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	n, err := netns.NewNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	srv, err := n.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	browser, err := n.AddHost(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "spacecast")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/spacecast").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ip := srv.Addr().String()
	ca := tlstest.NewCA(t)
	leaf := ca.IssueNow(t, dir, 2, ip)
	spki := spkiHash(t, leaf.CertFile)

	// The cluster secrets both processes share, from the environment.
	cl, err := clusterkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	key, signing := cl.SigningSecret()
	env := append(os.Environ(), clusterkey.EnvAPIKeys+"="+key+":"+signing, clusterkey.EnvSigningKey+"="+key,
		clusterkey.EnvTURNSecrets+"="+cl.TURNSecrets[0])
	data := filepath.Join(dir, "data")
	out, err := exec.CommandContext(ctx, bin, "admin", "client", "create", "--data", data, "--name", "https", "--json").Output()
	if err != nil {
		t.Fatalf("admin client create: %v", err)
	}
	var creds struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal(out, &creds); err != nil {
		t.Fatal(err)
	}
	tlsSection := fmt.Sprintf("tls: {certFile: %s, keyFile: %s}\n", leaf.CertFile, leaf.KeyFile)
	api := "https://" + ip + ":8443"
	edgeURL := "wss://" + ip + ":7880"
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cpCfg := write("cp.yaml", fmt.Sprintf(`log: {level: info}
controlplane:
  listen: %[1]s:8443
  publicURL: %[2]s
  drainDelay: 0s
  devEdge: {url: %[3]s, region: local, nodeId: edge-tls}
store: {dataDir: %[4]s}
`, ip, api, edgeURL, data)+tlsSection)
	edgeCfg := write("edge.yaml", fmt.Sprintf(`log: {level: info}
edge:
  listen: %[1]s:7880
  publicURL: %[2]s
  nodeID: edge-tls
  region: local
  rtc: {udpPort: 7882, bindIP: %[1]s}
  drainTimeout: 1s
turn: {enabled: false}
`, ip, edgeURL)+tlsSection)
	logs := map[string]string{}
	for _, args := range [][]string{{"controlplane", "--config", cpCfg}, {"edge", "--config", edgeCfg}} {
		logs[args[0]] = startIn(ctx, t, srv, bin, env, args[0], args...)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientConfig()}}
	defer hc.CloseIdleConnections()
	for _, u := range []string{api + "/readyz", "https://" + ip + ":7880/readyz"} {
		for deadline := time.Now().Add(30 * time.Second); ; {
			resp, err := hc.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready: %v", u, err)
			}
			time.Sleep(100 * time.Millisecond) // polling
		}
	}

	s := &stack{api: api, host: browser, client: hc, chromium: []string{"--ignore-certificate-errors-spki-list=" + spki}}
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
	s.call(t, "POST", "/spaces", map[string]any{"name": "Secure", "isPublic": true}, &space)
	s.space = space.ID
	room := s.room(t, map[string]any{"name": "Over TLS", "isPublic": false, "type": "lesson"})
	annLink, benLink := s.link(t, room, "Ann", "moderator"), s.link(t, room, "Ben", "user")
	if !strings.HasPrefix(annLink, api+"/room/") {
		t.Fatalf("the link %q is not on the HTTPS public URL", annLink)
	}

	d := s.startDriver(t, ctx, chromium, "chromium-https")
	ann := d.open(t, "ann", probeURL(annLink), 960, 600)
	ben := d.open(t, "ben", probeURL(benLink), 960, 600)
	decoding := func(st state) bool { return st.Screen == "call" && st.FramesDecoded > 0 }
	ann.until(t, ctx, "decoded Ben's video over wss://", decoding)
	ben.until(t, ctx, "decoded Ann's video over wss://", decoding)
	// The page is an HTTPS page, and the edge it joined serves TLS only:
	// the video it decodes came through wss://.
	var scheme string
	ann.eval(t, `location.protocol`, &scheme)
	if scheme != "https:" {
		t.Errorf("the room page was served over %q, want https:", scheme)
	}
	ann.shot(t, "call-over-https")

	// Each join's request id, in the control plane's access log, is in
	// the edge's line of that participant's connection.
	cpLog, _ := os.ReadFile(logs["controlplane"])
	edgeLog, _ := os.ReadFile(logs["edge"])
	joins := regexp.MustCompile(`route=/v1/rooms/\{alias\}/join status=200 .*request_id=(\S+)`).FindAllStringSubmatch(string(cpLog), -1)
	if len(joins) < 2 {
		t.Fatalf("%d joins in the access log, want 2:\n%s", len(joins), cpLog)
	}
	for _, j := range joins {
		if !regexp.MustCompile(`msg="participant connected".*request_id=` + regexp.QuoteMeta(j[1]) + `\b`).Match(edgeLog) {
			t.Errorf("the edge logged no connection with the join's request id %s", j[1])
		}
	}
}

// spkiHash is Chromium's pin of a certificate: the base64 SHA-256 of its
// SubjectPublicKeyInfo.
func spkiHash(t *testing.T, certFile string) string {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(h[:])
}
