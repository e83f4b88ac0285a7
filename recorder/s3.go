package recorder

import (
	"context"
	"fmt"
	"mime"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config names an S3-compatible bucket.
type S3Config struct {
	Endpoint  string // host:port
	AccessKey string
	Secret    string
	Bucket    string
	Region    string
	// Insecure speaks plain HTTP to the endpoint.
	Insecure bool
}

// S3 keeps finished recording files in an S3-compatible bucket (minio-go).
type S3 struct {
	c      *minio.Client
	bucket string
}

// NewS3 makes the client; it does not reach the endpoint yet.
func NewS3(cfg S3Config) (*S3, error) {
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.Secret, ""),
		Secure: !cfg.Insecure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, err
	}
	return &S3{c: c, bucket: cfg.Bucket}, nil
}

// Put uploads a local file as key (in parts, for large files) and returns its s3:// location.
func (s *S3) Put(ctx context.Context, key, path string) (string, error) {
	ct := mime.TypeByExtension(filepath.Ext(path))
	if ct == "" {
		ct = "application/octet-stream"
	}
	if _, err := s.c.FPutObject(ctx, s.bucket, key, path, minio.PutObjectOptions{ContentType: ct}); err != nil {
		return "", fmt.Errorf("upload %s: %w", key, err)
	}
	return "s3://" + s.bucket + "/" + key, nil
}

// SignedURL returns a link that downloads location (an s3:// location in this bucket) until ttl
// has passed.
func (s *S3) SignedURL(ctx context.Context, location string, ttl time.Duration) (string, error) {
	key, ok := strings.CutPrefix(location, "s3://"+s.bucket+"/")
	if !ok {
		return "", fmt.Errorf("recorder: %s is not in bucket %s", location, s.bucket)
	}
	u, err := s.c.PresignedGetObject(ctx, s.bucket, key, ttl, url.Values{})
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// DeleteOlder removes the objects last written before cutoff and returns how many went.
func (s *S3) DeleteOlder(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return n, fmt.Errorf("list %s: %w", s.bucket, o.Err)
		}
		if !o.LastModified.Before(cutoff) {
			continue
		}
		if err := s.c.RemoveObject(ctx, s.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			return n, fmt.Errorf("delete %s: %w", o.Key, err)
		}
		n++
	}
	return n, nil
}

// DeletePrefix removes every object whose key starts with prefix (a recording's files).
func (s *S3) DeletePrefix(ctx context.Context, prefix string) error {
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("list %s: %w", prefix, o.Err)
		}
		if err := s.c.RemoveObject(ctx, s.bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("delete %s: %w", o.Key, err)
		}
	}
	return nil
}
