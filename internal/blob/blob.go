// Package blob stores recordings' files where the operator wants them: a
// local directory (the default, one box) or S3-compatible object storage
// (a fleet: SeaweedFS, Ceph, Garage, AWS S3, ... through minio-go), and
// hands out signed download URLs that expire (24 h by default).
//
// It is shared by the edge, which uploads what it recorded, and the
// control plane, which lists recordings and signs their download links;
// neither imports the other. The `storage:` section (Config) is decoded
// strictly like every config section; credentials and the local URL key
// come from the environment (SecretsFromEnv), never from the file.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path"
	"strings"
	"time"
)

// Errors.
var (
	// ErrNotFound is returned for a key that holds nothing.
	ErrNotFound = errors.New("blob: not found")
	// ErrKey is returned for a key that is not a clean relative path.
	ErrKey = errors.New("blob: invalid key")
	// ErrConfig marks an unusable Config or Secrets.
	ErrConfig = errors.New("blob: invalid config")
)

// DefaultURLTTL is how long a download URL stays valid.
const DefaultURLTTL = 24 * time.Hour

// Info describes a stored object.
type Info struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Store keeps objects under keys: slash-separated relative paths such as
// "recordings/<id>/call.mp4". Implementations are safe for concurrent
// use.
type Store interface {
	// Put stores size bytes (-1: unknown) read from r under key,
	// replacing what was there. The object appears whole or not at all.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens key for reading; ErrNotFound if it holds nothing.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes key; ErrNotFound if it holds nothing.
	Stat(ctx context.Context, key string) (Info, error)
	// List describes the objects whose keys start with prefix, in key
	// order.
	List(ctx context.Context, prefix string) ([]Info, error)
	// Delete removes key; removing nothing is not an error.
	Delete(ctx context.Context, key string) error
	// URL is a link anyone can download key from until ttl has passed
	// (0: DefaultURLTTL).
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// maxKey bounds a key's length (S3's limit).
const maxKey = 1024

// checkKey accepts a clean relative slash path of letters, digits and
// "._-" segments.
func checkKey(key string) error {
	if key == "" || len(key) > maxKey {
		return fmt.Errorf("%w: %q", ErrKey, key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q", ErrKey, key)
		}
		for _, r := range seg {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
			if !ok {
				return fmt.Errorf("%w: %q", ErrKey, key)
			}
		}
	}
	return nil
}

// ContentType is the media type of a key by its extension: the
// recordings' containers, JSON, else what the system knows, else
// application/octet-stream.
func ContentType(key string) string {
	ext := strings.ToLower(path.Ext(key))
	switch ext {
	case ".mp4":
		return "video/mp4"
	case ".webm":
		return "video/webm"
	case ".mkv":
		return "video/x-matroska"
	case ".json":
		return "application/json"
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return "application/octet-stream"
}

// PutFile stores the file at path under key.
func PutFile(ctx context.Context, s Store, key, path, contentType string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	if contentType == "" {
		contentType = ContentType(key)
	}
	return s.Put(ctx, key, f, st.Size(), contentType)
}
