package certs

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Files serves a certificate from PEM files and reads them again when they change (a renewal by
// certbot, a replaced Kubernetes secret), so the node need not restart.
type Files struct {
	certPath, keyPath string
	log               *slog.Logger

	mu   sync.Mutex
	seen [2]stamp // the files as last read, successfully or not
	cert *tls.Certificate
}

// stamp tells one version of a file from another without reading it.
type stamp struct {
	mod  time.Time
	size int64
}

// LoadFiles reads the certificate (chain) and key; they must form a pair.
func LoadFiles(certPath, keyPath string, log *slog.Logger) (*Files, error) {
	if log == nil {
		log = slog.Default()
	}
	f := &Files{certPath: certPath, keyPath: keyPath, log: log}
	seen, err := f.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	f.seen, f.cert = seen, &cert
	return f, nil
}

func (f *Files) stat() ([2]stamp, error) {
	var s [2]stamp
	for i, p := range []string{f.certPath, f.keyPath} {
		fi, err := os.Stat(p)
		if err != nil {
			return s, fmt.Errorf("tls: %w", err)
		}
		s[i] = stamp{fi.ModTime(), fi.Size()}
	}
	return s, nil
}

// GetCertificate returns the current certificate, first reading the files again if either has
// changed. A pair that does not load (one file replaced, the other not yet) leaves the previous
// certificate in service until the files change again.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen, err := f.stat()
	if err != nil || seen == f.seen {
		return f.cert, nil
	}
	f.seen = seen
	cert, err := tls.LoadX509KeyPair(f.certPath, f.keyPath)
	if err != nil {
		f.log.Warn("tls: new certificate files do not load; serving the previous certificate", "err", err)
		return f.cert, nil
	}
	f.cert = &cert
	f.log.Info("tls: certificate reloaded", "cert", f.certPath)
	return f.cert, nil
}

// TLSConfig is ServerConfig for these files.
func (f *Files) TLSConfig() *tls.Config { return ServerConfig(f) }
