package blob

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Local is a Store in a directory of this machine. Its download URLs
// point at BaseURL, where the caller serves Handler.
type Local struct {
	dir  string
	base string
	key  []byte
	ttl  time.Duration
	now  func() time.Time
}

// minURLKey is the shortest key local URLs are signed with.
const minURLKey = 16

// NewLocal makes a Local store from a validated config. key signs the
// download URLs (nil: URL refuses).
func NewLocal(cfg LocalConfig, key []byte, ttl time.Duration) (*Local, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("%w: no directory", ErrConfig)
	}
	if cfg.BaseURL != "" && len(key) < minURLKey {
		return nil, fmt.Errorf("%w: local download URLs need a key of %d bytes or more (%s)", ErrConfig, minURLKey, EnvURLKey)
	}
	if ttl <= 0 {
		ttl = DefaultURLTTL
	}
	return &Local{dir: cfg.Dir, base: strings.TrimSuffix(cfg.BaseURL, "/"), key: key, ttl: ttl, now: time.Now}, nil
}

// SetClock replaces the clock URLs are signed and checked with (tests
// that make a link expire). Call it before the store is used.
func (l *Local) SetClock(now func() time.Time) { l.now = now }

func (l *Local) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(l.dir, filepath.FromSlash(key)), nil
}

// Put writes into a temporary file beside the object and renames it.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, _ string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("read %d bytes, want %d", n, size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (l *Local) Get(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return f, nil
}

func (l *Local) Stat(_ context.Context, key string) (Info, error) {
	p, err := l.path(key)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && st.IsDir()) {
		return Info{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	return Info{Key: key, Size: st.Size(), Modified: st.ModTime()}, nil
}

func (l *Local) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	err := filepath.WalkDir(l.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == l.dir {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".put-") {
			return nil
		}
		rel, err := filepath.Rel(l.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Info{Key: key, Size: st.Size(), Modified: st.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob: list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (l *Local) Delete(_ context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// URL is BaseURL/<key>?expires=<unix seconds>&sig=<HMAC-SHA256 of the key
// and the expiry>.
func (l *Local) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if _, err := l.Stat(ctx, key); err != nil {
		return "", err
	}
	if l.base == "" || len(l.key) == 0 {
		return "", fmt.Errorf("%w: storage.local.baseURL and its key are needed for download URLs", ErrConfig)
	}
	if ttl <= 0 {
		ttl = l.ttl
	}
	exp := strconv.FormatInt(l.now().Add(ttl).Unix(), 10)
	q := url.Values{"expires": {exp}, "sig": {l.sign(key, exp)}}
	return l.base + "/" + (&url.URL{Path: key}).EscapedPath() + "?" + q.Encode(), nil
}

func (l *Local) sign(key, exp string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte("GET\n" + key + "\n" + exp))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Handler serves the objects of signed URLs: the request's path, less
// any prefix up to the key (mount it with http.StripPrefix), is the key.
// A bad signature is 403, an expired URL 410, a missing object 404.
// Ranges, HEAD and conditional requests are served by net/http.
func (l *Local) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		key := strings.TrimPrefix(r.URL.Path, "/")
		exp := r.URL.Query().Get("expires")
		sig := r.URL.Query().Get("sig")
		if checkKey(key) != nil || len(l.key) == 0 || !hmac.Equal([]byte(sig), []byte(l.sign(key, exp))) {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		sec, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || l.now().Unix() > sec {
			http.Error(w, "link expired", http.StatusGone)
			return
		}
		p, _ := l.path(key)
		f, err := os.Open(p)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.IsDir() {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", ContentType(key))
		w.Header().Set("Cache-Control", "private, max-age=0")
		w.Header().Set("Content-Disposition", "attachment; filename="+strconv.Quote(path.Base(key)))
		http.ServeContent(w, r, path.Base(key), st.ModTime(), f)
	})
}
