package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a Store in a bucket of S3-compatible object storage.
type S3 struct {
	c      *minio.Client
	bucket string
	prefix string
	ttl    time.Duration
}

// NewS3 connects to the bucket of a validated config with the secrets'
// credentials (none: anonymous) and, with CreateBucket, makes the bucket
// if it is missing.
func NewS3(ctx context.Context, cfg S3Config, sec Secrets, ttl time.Duration) (*S3, error) {
	lookup := minio.BucketLookupAuto
	switch cfg.Lookup {
	case "path":
		lookup = minio.BucketLookupPath
	case "dns":
		lookup = minio.BucketLookupDNS
	}
	var creds *credentials.Credentials
	if sec.AccessKey != "" || sec.SecretKey != "" {
		creds = credentials.NewStaticV4(sec.AccessKey, sec.SecretKey, sec.SessionToken)
	} else {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{Creds: creds, Secure: !cfg.Insecure, Region: cfg.Region, BucketLookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("%w: s3: %w", ErrConfig, err)
	}
	if ttl <= 0 {
		ttl = DefaultURLTTL
	}
	prefix := cfg.Prefix
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	s := &S3{c: c, bucket: cfg.Bucket, prefix: prefix, ttl: ttl}
	if cfg.CreateBucket {
		ok, err := c.BucketExists(ctx, cfg.Bucket)
		if err != nil {
			return nil, fmt.Errorf("blob: s3 bucket %s: %w", cfg.Bucket, err)
		}
		if !ok {
			if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
				return nil, fmt.Errorf("blob: s3 make bucket %s: %w", cfg.Bucket, err)
			}
		}
	}
	return s, nil
}

func (s *S3) object(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// s3Err maps a missing object to ErrNotFound.
func s3Err(key string, err error) error {
	if resp := minio.ToErrorResponse(err); resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey" {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fmt.Errorf("blob: s3 %s: %w", key, err)
}

func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if contentType == "" {
		contentType = ContentType(key)
	}
	if _, err := s.c.PutObject(ctx, s.bucket, obj, r, size, minio.PutObjectOptions{ContentType: contentType}); err != nil {
		return fmt.Errorf("blob: s3 put %s: %w", key, err)
	}
	return nil
}

func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.object(key)
	if err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Err(key, err)
	}
	// GetObject is lazy: ask now, so a missing object is ErrNotFound here.
	if _, err := o.Stat(); err != nil {
		o.Close()
		return nil, s3Err(key, err)
	}
	return o, nil
}

func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	obj, err := s.object(key)
	if err != nil {
		return Info{}, err
	}
	st, err := s.c.StatObject(ctx, s.bucket, obj, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s3Err(key, err)
	}
	return Info{Key: key, Size: st.Size, Modified: st.LastModified}, nil
}

func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("blob: s3 list %s: %w", prefix, o.Err)
		}
		out = append(out, Info{Key: strings.TrimPrefix(o.Key, s.prefix), Size: o.Size, Modified: o.LastModified})
	}
	return out, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{}); err != nil && !errors.Is(s3Err(key, err), ErrNotFound) {
		return fmt.Errorf("blob: s3 delete %s: %w", key, err)
	}
	return nil
}

// URL is a presigned GET (AWS Signature Version 4, query string): the
// server itself refuses it once ttl has passed.
func (s *S3) URL(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if _, err := s.Stat(ctx, key); err != nil {
		return "", err
	}
	obj, _ := s.object(key)
	if ttl <= 0 {
		ttl = s.ttl
	}
	u, err := s.c.PresignedGetObject(ctx, s.bucket, obj, ttl, nil)
	if err != nil {
		return "", fmt.Errorf("blob: s3 sign %s: %w", key, err)
	}
	return u.String(), nil
}
