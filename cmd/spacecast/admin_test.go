package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
	"github.com/spacecast/spacecast/internal/clusterkey"
)

func runCmd(t *testing.T, ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestAdminClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	code, out, stderr := runCmd(t, ctx, nil, "admin", "client", "create", "--data", dir, "--name", "acme", "--json")
	if code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	var created struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ClientID == "" || !strings.HasPrefix(created.ClientSecret, "scs_") {
		t.Fatalf("create output %q: %v", out, err)
	}
	// The secret is stored only as a hash.
	db, err := os.ReadFile(filepath.Join(dir, "spacecast.db"))
	if err == nil && bytes.Contains(db, []byte(created.ClientSecret)) {
		t.Fatal("the client secret is stored in clear")
	}
	code, out, _ = runCmd(t, ctx, nil, "admin", "client", "list", "--data", dir, "--json")
	if code != 0 || !strings.Contains(out, created.ClientID) || !strings.Contains(out, `"name":"acme"`) {
		t.Fatalf("list: %d %s", code, out)
	}
	code, out, _ = runCmd(t, ctx, nil, "admin", "client", "rotate-secret", "--data", dir, "--id", created.ClientID, "--json")
	if code != 0 || strings.Contains(out, created.ClientSecret) || !strings.Contains(out, "scs_") {
		t.Fatalf("rotate: %d %s", code, out)
	}
	if code, _, _ = runCmd(t, ctx, nil, "admin", "key", "rotate", "--data", dir); code != 0 {
		t.Fatalf("key rotate: %d", code)
	}
	if code, _, _ = runCmd(t, ctx, nil, "admin", "client", "delete", "--data", dir, "--id", created.ClientID); code != 0 {
		t.Fatalf("delete: %d", code)
	}
	if _, out, _ = runCmd(t, ctx, nil, "admin", "client", "list", "--data", dir, "--json"); strings.Contains(out, created.ClientID) {
		t.Fatalf("deleted client still listed: %s", out)
	}
	for _, bad := range [][]string{
		{"admin"}, {"admin", "client", "create", "--data", dir}, {"admin", "client", "create", "--name", "x"},
		{"admin", "client", "frobnicate", "--data", dir}, {"admin", "client", "delete", "--data", dir},
	} {
		if code, _, _ := runCmd(t, ctx, nil, bad...); code == 0 {
			t.Errorf("%v succeeded", bad)
		}
	}
}

// syncBuf is a bytes.Buffer safe for the writer goroutine and a reader.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestControlplaneCommand runs `spacecast controlplane --config FILE` with
// secrets from the environment, checks it serves, and that cancelling (as
// SIGTERM does) drains it to a clean exit.
func TestControlplaneCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	sample, err := os.ReadFile("../../deploy/controlplane.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(sample), "listen: 127.0.0.1:8080", "listen: 127.0.0.1:0", 1)
	cfg = strings.Replace(cfg, "listen: 127.0.0.1:9101", "listen: 127.0.0.1:0", 1) // metrics
	if strings.Contains(cfg, "listen: 127.0.0.1:9101") || strings.Contains(cfg, "listen: 127.0.0.1:8080") {
		t.Fatal("a fixed port is left in the test's config")
	}
	cfg = strings.Replace(cfg, "dataDir: data", "dataDir: "+filepath.Join(dir, "data"), 1)
	path := filepath.Join(dir, "cp.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		clusterkey.EnvAPIKeys:     "k1:0123456789abcdef0123456789abcdef",
		clusterkey.EnvSigningKey:  "k1",
		clusterkey.EnvTURNSecrets: "0123456789abcdef",
	}
	// Without the env secrets the sample does not validate.
	if code, _, _ := runCmd(t, ctx, nil, "controlplane", "--config", path); code == 0 {
		t.Fatal("started without cluster secrets")
	}
	// Strict YAML: an unknown key is an error.
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("controlplane:\n  lisen: x\n"), 0o600)
	if code, _, stderr := runCmd(t, ctx, env, "controlplane", "--config", bad); code == 0 || !strings.Contains(stderr, "lisen") {
		t.Fatalf("unknown key accepted: %s", stderr)
	}

	runCtx, stop := context.WithCancel(ctx)
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{"controlplane", "--config", path}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	}()
	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no URL printed: %s %s", out.String(), errb.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, want := range []string{"/v1/openapi.json", "/docs", "/healthz"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed URLs lack %s: %s", want, out.String())
		}
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var status int
	for deadline := time.Now().Add(10 * time.Second); status != 200 && time.Now().Before(deadline); {
		if resp, err := hc.Get(base + "/readyz"); err == nil {
			status = resp.StatusCode
			resp.Body.Close()
		}
		if status != 200 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if status != 200 {
		t.Fatalf("readyz = %d", status)
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not drain")
	}
}

// TestAdminOnPostgres: the admin commands work against the store the
// config file names, PostgreSQL with its password from the environment;
// user delete removes the user and revokes its tokens for every replica.
func TestAdminOnPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := pg.Server(t)
	dsn := pg.DB(t)
	db := dsn[strings.LastIndex(dsn, "/")+1 : strings.Index(dsn, "?")]
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cp.yaml")
	write := func(dsn string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte("store:\n  driver: postgres\n  dsn: "+dsn+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{envStorePassword: srv.Password}

	// A password in the file is refused, saying where it belongs.
	write(srv.DSN(db))
	if code, _, stderr := runCmd(t, ctx, env, "admin", "client", "list", "--config", cfg); code == 0 || !strings.Contains(stderr, envStorePassword) {
		t.Fatalf("a DSN with a password: exit %d, %s", code, stderr)
	}
	write(srv.DSNWithoutPassword(db))
	t.Setenv("PGPASSWORD", "")
	if code, _, _ := runCmd(t, ctx, nil, "admin", "client", "list", "--config", cfg); code == 0 {
		t.Fatal("opened the store without the password")
	}

	code, out, stderr := runCmd(t, ctx, env, "admin", "client", "create", "--config", cfg, "--name", "acme", "--json")
	if code != 0 {
		t.Fatalf("create: %d %s", code, stderr)
	}
	var created struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ClientID == "" {
		t.Fatalf("create output %q: %v", out, err)
	}
	code, out, _ = runCmd(t, ctx, env, "admin", "client", "list", "--config", cfg, "--json")
	if code != 0 || !strings.Contains(out, created.ClientID) {
		t.Fatalf("list: %d %s", code, out)
	}

	st, err := storeSection{Driver: "postgres", DSN: srv.DSNWithoutPassword(db), password: srv.Password}.open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := store.User{ID: "u1", ClientID: store.ClientID(created.ClientID), Email: "Ann@example.com", Username: "ann", CreatedAt: time.Now()}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{"admin", "user", "delete", "--config", cfg, "--id", "u1"},                                               // no client
		{"admin", "user", "delete", "--config", cfg, "--client", created.ClientID},                               // no user
		{"admin", "user", "delete", "--config", cfg, "--client", created.ClientID, "--id", "u1", "--email", "x"}, // both
	} {
		if code, _, _ := runCmd(t, ctx, env, bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, code)
		}
	}
	if code, _, stderr := runCmd(t, ctx, env, "admin", "user", "delete", "--config", cfg, "--client", created.ClientID, "--id", "nobody"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Fatalf("delete a missing user: %d %s", code, stderr)
	}
	code, out, stderr = runCmd(t, ctx, env, "admin", "user", "delete", "--config", cfg, "--client", created.ClientID, "--email", "ann@EXAMPLE.com")
	if code != 0 || !strings.Contains(out, "deleted user u1") {
		t.Fatalf("delete by e-mail: %d %s %s", code, out, stderr)
	}
	if _, err := st.GetUser(ctx, u.ClientID, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("user after delete: %v", err)
	}
	revs, err := st.ListTokenRevocations(ctx, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range revs {
		found = found || (r.Kind == store.RevokeUser && r.Subject == "u1" && r.ClientID == u.ClientID)
	}
	if !found {
		t.Fatalf("no user revocation recorded: %+v", revs)
	}
}
