package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spacecast/spacecast/internal/procattr"

	"go.uber.org/goleak"

	"github.com/spacecast/spacecast/internal/testenv"
)

// weedBinary finds SeaweedFS's weed: $SPACECAST_WEED, the PATH, or where
// .ci/build-weed puts it.
func weedBinary() (string, error) {
	if p := os.Getenv("SPACECAST_WEED"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p, nil
	}
	cache := os.Getenv("SPACECAST_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(dir, "spacecast")
	}
	p := filepath.Join(cache, "bin", "weed")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("not on the PATH nor at %s (build it with .ci/build-weed): %w", p, err)
	}
	return p, nil
}

// freePorts returns n ports free on 127.0.0.1 now. weed takes its ports
// as numbers (and derives none from a listener), so they are found by
// binding port 0 and handed over.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// seaweed starts a SeaweedFS server with its S3 gateway on loopback, with
// one identity (accessKey, secretKey), and returns the S3 endpoint. It is
// stopped when the test ends.
func seaweed(t *testing.T, accessKey, secretKey string) string {
	t.Helper()
	bin, err := weedBinary()
	testenv.Need(t, "SeaweedFS's weed binary", err)
	dir := t.TempDir()
	s3cfg := filepath.Join(dir, "s3.json")
	js := fmt.Sprintf(`{"identities":[{"name":"spacecast","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","Write","List","Tagging"]}]}`, accessKey, secretKey)
	if err := os.WriteFile(s3cfg, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	p := freePorts(t, 8)
	args := []string{"server", "-dir=" + data, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.port=" + strconv.Itoa(p[0]), "-master.port.grpc=" + strconv.Itoa(p[1]),
		"-volume.port=" + strconv.Itoa(p[2]), "-volume.port.grpc=" + strconv.Itoa(p[3]),
		"-filer.port=" + strconv.Itoa(p[4]), "-filer.port.grpc=" + strconv.Itoa(p[5]),
		"-s3", "-s3.port=" + strconv.Itoa(p[6]), "-s3.port.grpc=" + strconv.Itoa(p[7]),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config=" + s3cfg,
		"-master.volumeSizeLimitMB=64", "-volume.max=4", "-master.telemetry=false",
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = procattr.DieWithParent(syscall.SIGKILL)
	logf, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	endpoint := "127.0.0.1:" + strconv.Itoa(p[6])
	// Ready when the gateway answers and a bucket can be made (the
	// volume server has joined the master).
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("weed exited: %v\n%s", err, tail(log, 3000))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := NewS3(ctx, S3Config{Endpoint: endpoint, Region: "us-east-1", Bucket: "ready", Insecure: true, Lookup: "path", CreateBucket: true},
			Secrets{AccessKey: accessKey, SecretKey: secretKey}, 0)
		cancel()
		if err == nil {
			return endpoint
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("SeaweedFS's S3 gateway not ready after 90 s: %v\n%s", err, tail(log, 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestS3Contract runs the Store contract against a real S3-compatible
// server, SeaweedFS, with a key prefix; presigned URLs are checked by the
// server (a URL signed for another key is refused).
func TestS3Contract(t *testing.T) {
	if testing.Short() {
		t.Skip("starts SeaweedFS")
	}
	t.Cleanup(func() {
		goleak.VerifyNone(t, goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
	})
	const ak, sk = "SPACECASTTESTKEY", "spacecast-test-secret-key-0123456789"
	endpoint := seaweed(t, ak, sk)
	cfg := Config{Kind: KindS3, S3: S3Config{Endpoint: endpoint, Bucket: "recordings", Prefix: "spacecast", Insecure: true, Lookup: "path", CreateBucket: true}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvAccessKey: ak, EnvSecretKey: sk}
	sec, err := SecretsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(testCtx(t), cfg, sec)
	if err != nil {
		t.Fatal(err)
	}
	contract(t, s)

	ctx := testCtx(t)
	t.Run("prefix", func(t *testing.T) {
		// The objects are under the prefix in the bucket; the store's keys
		// are not.
		raw, err := NewS3(ctx, S3Config{Endpoint: endpoint, Bucket: "recordings", Insecure: true, Lookup: "path"}, sec, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Stat(ctx, "spacecast/rec/a/call.mp4"); err != nil {
			t.Fatalf("the object is not under the prefix: %v", err)
		}
	})
	t.Run("URL valid 24 h", func(t *testing.T) {
		u, err := s.URL(ctx, "rec/a/manifest.json", 0)
		if err != nil {
			t.Fatal(err)
		}
		pu, _ := url.Parse(u)
		if exp := pu.Query().Get("X-Amz-Expires"); exp != "86400" {
			t.Fatalf("X-Amz-Expires %q, want 86400", exp)
		}
	})
	t.Run("URL expires", func(t *testing.T) {
		u, err := s.URL(ctx, "rec/a/manifest.json", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if code, b := get(t, u); code != http.StatusOK || !bytes.Equal(b, []byte(`{"v":2}`)) {
			t.Fatalf("fresh URL: %d %q", code, b)
		}
		// The server refuses it once the second has passed (polled, with
		// a deadline: the server's clock decides).
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, _ := get(t, u)
			if code == http.StatusForbidden {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("an expired URL still answers %d", code)
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		bad, err := NewS3(ctx, S3Config{Endpoint: endpoint, Bucket: "recordings", Insecure: true, Lookup: "path"}, Secrets{AccessKey: ak, SecretKey: "wrong"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		err = bad.Put(ctx, "x", strings.NewReader("x"), 1, "")
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("Put with a wrong secret: %v, want refused", err)
		}
	})
}
