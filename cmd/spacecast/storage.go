package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spacecast/spacecast/internal/blob"
)

// storageConfigured reports whether a `storage:` section says anything.
func storageConfigured(c blob.Config) bool {
	return c.Kind != "" || c.Local.Dir != "" || c.S3.Endpoint != "" || c.S3.Bucket != ""
}

// openStorage opens the recordings' storage of a `storage:` section, its
// secrets from the environment. A local storage without a baseURL serves
// its links at publicURL/files (the control plane's file route; "" for an
// edge, which only uploads). It returns the local store too when the
// storage is local (the control plane serves its links).
func openStorage(ctx context.Context, c blob.Config, publicURL string, getenv func(string) string) (blob.Store, *blob.Local, error) {
	if c.Kind == blob.KindLocal || c.Kind == "" {
		if c.Local.BaseURL == "" && publicURL != "" {
			c.Local.BaseURL = strings.TrimSuffix(publicURL, "/") + "/files"
		}
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	sec, err := blob.SecretsFromEnv(getenv)
	if err != nil {
		return nil, nil, err
	}
	if c.Kind == blob.KindLocal && len(sec.URLKey) == 0 {
		c.Local.BaseURL = "" // no key: the store signs no link (downloads answer 503)
	}
	st, err := blob.Open(ctx, c, sec)
	if err != nil {
		return nil, nil, err
	}
	l, _ := st.(*blob.Local)
	return st, l, nil
}

// devURLKey is the key `spacecast dev` signs its local download links
// with, made on first start and kept in the data folder (mode 0600).
func devURLKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) < 16 {
			return nil, fmt.Errorf("%s: not a base64 key of 16 bytes or more", path)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("storage url key: %w", err)
	}
	return k, nil
}
