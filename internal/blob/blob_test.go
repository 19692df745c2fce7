package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/internal/config"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// client keeps no connection open (the goroutine-leak checks).
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// get fetches u and returns its status and body.
func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// contract is what every Store does.
func contract(t *testing.T, s Store) {
	ctx := testCtx(t)
	body := make([]byte, 3<<20+17) // several of minio-go's parts if it cut them small
	if _, err := rand.Read(body); err != nil {
		t.Fatal(err)
	}

	t.Run("put get stat", func(t *testing.T) {
		if err := s.Put(ctx, "rec/a/call.mp4", bytes.NewReader(body), int64(len(body)), ""); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Get(ctx, "rec/a/call.mp4")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("Get returned %d bytes (%v), want the %d put", len(got), err, len(body))
		}
		info, err := s.Stat(ctx, "rec/a/call.mp4")
		if err != nil || info.Size != int64(len(body)) || info.Key != "rec/a/call.mp4" || info.Modified.IsZero() {
			t.Fatalf("Stat = %+v, %v", info, err)
		}
	})
	t.Run("unknown size, replace", func(t *testing.T) {
		if err := s.Put(ctx, "rec/a/manifest.json", strings.NewReader(`{"v":1}`), -1, ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, "rec/a/manifest.json", strings.NewReader(`{"v":2}`), -1, ""); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Get(ctx, "rec/a/manifest.json")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != `{"v":2}` {
			t.Fatalf("after a replace: %q", got)
		}
	})
	t.Run("list", func(t *testing.T) {
		if err := s.Put(ctx, "rec/b/x.webm", strings.NewReader("x"), 1, ""); err != nil {
			t.Fatal(err)
		}
		infos, err := s.List(ctx, "rec/a/")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, i := range infos {
			keys = append(keys, i.Key)
		}
		if strings.Join(keys, ",") != "rec/a/call.mp4,rec/a/manifest.json" {
			t.Fatalf("List(rec/a/) = %v", keys)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := s.Get(ctx, "rec/none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of nothing: %v, want ErrNotFound", err)
		}
		if _, err := s.Stat(ctx, "rec/none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat of nothing: %v, want ErrNotFound", err)
		}
		if _, err := s.URL(ctx, "rec/none", 0); !errors.Is(err, ErrNotFound) {
			t.Fatalf("URL of nothing: %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, "rec/none"); err != nil {
			t.Fatalf("Delete of nothing: %v", err)
		}
	})
	t.Run("bad keys", func(t *testing.T) {
		for _, k := range []string{"", "/abs", "a/../b", "a//b", "a/./b", `a\b`, "a b", "a/", strings.Repeat("k", maxKey+1)} {
			if err := s.Put(ctx, k, strings.NewReader("x"), 1, ""); !errors.Is(err, ErrKey) {
				t.Errorf("Put(%q) = %v, want ErrKey", k, err)
			}
			if _, err := s.Get(ctx, k); !errors.Is(err, ErrKey) {
				t.Errorf("Get(%q) = %v, want ErrKey", k, err)
			}
		}
	})
	t.Run("download URL", func(t *testing.T) {
		u, err := s.URL(ctx, "rec/a/call.mp4", 0)
		if err != nil {
			t.Fatal(err)
		}
		code, got := get(t, u)
		if code != http.StatusOK || !bytes.Equal(got, body) {
			t.Fatalf("GET of the download URL: %d, %d bytes; want 200 and the %d put", code, len(got), len(body))
		}
		tampered := strings.Replace(u, "call.mp4", "manifest.json", 1)
		if code, _ := get(t, tampered); code != http.StatusForbidden {
			t.Fatalf("a URL signed for another key: %d, want 403", code)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.Delete(ctx, "rec/b/x.webm"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, "rec/b/x.webm"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Stat after Delete: %v", err)
		}
	})
}

func newLocal(t *testing.T, now func() time.Time) (*Local, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(LocalConfig{Dir: t.TempDir(), BaseURL: srv.URL + "/files/"}, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if now != nil {
		l.now = now
	}
	mux.Handle("/files/", http.StripPrefix("/files/", l.Handler()))
	return l, srv
}

func TestLocalContract(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last: after the servers close
	l, _ := newLocal(t, nil)
	contract(t, l)
	// Nothing of a put is left beside the objects.
	ents, err := os.ReadDir(filepath.Join(l.dir, "rec", "a"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// TestLocalURL: a local download URL lasts 24 h by default and is then
// refused (410); ranges are served; a bad signature is refused (403).
func TestLocalURL(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last: after the servers close
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	l, _ := newLocal(t, func() time.Time { return now })
	ctx := testCtx(t)
	if err := l.Put(ctx, "r/call.mp4", strings.NewReader("0123456789"), 10, ""); err != nil {
		t.Fatal(err)
	}
	u, err := l.URL(ctx, "r/call.mp4", 0)
	if err != nil {
		t.Fatal(err)
	}
	pu, _ := url.Parse(u)
	if exp := pu.Query().Get("expires"); exp != "1772452800" { // 2026-03-02T12:00:00Z
		t.Fatalf("expires %s, want 24 h from now", exp)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=2-4")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != "234" || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("range: %d %q %s", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
	q := pu.Query()
	q.Set("sig", q.Get("sig")[1:]+"A")
	pu.RawQuery = q.Encode()
	if code, _ := get(t, pu.String()); code != http.StatusForbidden {
		t.Fatalf("bad signature: %d, want 403", code)
	}
	now = now.Add(24*time.Hour + time.Second)
	if code, _ := get(t, u); code != http.StatusGone {
		t.Fatalf("after 24 h: %d, want 410", code)
	}
}

func TestLocalNeedsURLKey(t *testing.T) {
	if _, err := NewLocal(LocalConfig{Dir: t.TempDir(), BaseURL: "https://x.example/f"}, []byte("short"), 0); !errors.Is(err, ErrConfig) {
		t.Fatalf("NewLocal with a short key: %v, want ErrConfig", err)
	}
	l, err := NewLocal(LocalConfig{Dir: t.TempDir()}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Put(testCtx(t), "k", strings.NewReader("x"), 1, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := l.URL(testCtx(t), "k", 0); !errors.Is(err, ErrConfig) {
		t.Fatalf("URL without a base URL: %v, want ErrConfig", err)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		ok   bool
	}{
		{"local", "kind: local\nlocal:\n  dir: /var/lib/spacecast/recordings\n  baseURL: https://cp.example.com/v1/files\n", true},
		{"default kind", "local:\n  dir: rec\n", true},
		{"s3", "kind: s3\nurlTTL: 48h\ns3:\n  endpoint: s3.example.com\n  bucket: rec\n  prefix: spacecast/\n  lookup: path\n", true},
		{"unknown key", "kind: s3\ns3:\n  endpoint: e\n  bucket: b\n  secretKey: oops\n", false},
		{"s3 without bucket", "kind: s3\ns3:\n  endpoint: e\n", false},
		{"endpoint with scheme", "kind: s3\ns3:\n  endpoint: https://e\n  bucket: b\n", false},
		{"bad lookup", "kind: s3\ns3:\n  endpoint: e\n  bucket: b\n  lookup: magic\n", false},
		{"ttl beyond S3's week", "urlTTL: 200h\nlocal:\n  dir: d\n", false},
		{"unknown kind", "kind: ftp\n", false},
		{"local without dir", "kind: local\n", false},
		{"base URL not http", "local:\n  dir: d\n  baseURL: ftp://x\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := config.Decode([]byte(tc.yaml), &c)
			if err == nil {
				err = c.Validate()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok && c.URLTTL <= 0 {
				t.Fatalf("URLTTL %v after Validate", c.URLTTL)
			}
		})
	}
}

func TestSecretsFromEnv(t *testing.T) {
	env := map[string]string{
		envAWSAccessKey: "aws-ak", EnvAccessKey: "sc-ak", envAWSSecretKey: "aws-sk",
		EnvURLKey: "MDEyMzQ1Njc4OWFiY2RlZg==",
	}
	s, err := SecretsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if s.AccessKey != "sc-ak" || s.SecretKey != "aws-sk" || string(s.URLKey) != "0123456789abcdef" {
		t.Fatalf("secrets %+v", s)
	}
	env[EnvURLKey] = "not base64!"
	if _, err := SecretsFromEnv(func(k string) string { return env[k] }); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad URL key: %v, want ErrConfig", err)
	}
}

func TestContentType(t *testing.T) {
	for key, want := range map[string]string{"a/b.mp4": "video/mp4", "x.WEBM": "video/webm", "m.json": "application/json", "x.mkv": "video/x-matroska", "noext": "application/octet-stream"} {
		if got := ContentType(key); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", key, got, want)
		}
	}
}
