package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACMEConfig says which names to get certificates for, and from which CA.
type ACMEConfig struct {
	Domains      []string
	Email        string
	DirectoryURL string
	// CacheDir keeps the account key and certificates: without it every start asks the CA anew
	// (and public CAs limit how often).
	CacheDir string
	// Roots, when set, are the only roots trusted for the CA's own HTTPS (a private ACME CA).
	Roots *x509.CertPool
	// RenewBefore renews this long before expiry; zero: a third of the lifetime, at most 30 days.
	RenewBefore time.Duration
}

// ACME obtains certificates on the first handshake that asks for one of its names, answering the
// CA's TLS-ALPN-01 challenge on the HTTPS port, or its HTTP-01 challenge through HTTPHandler,
// and renews them before they expire.
type ACME struct {
	m *autocert.Manager
}

// NewACME prepares the client; nothing is asked of the CA until a handshake needs a certificate.
func NewACME(c ACMEConfig) (*ACME, error) {
	if len(c.Domains) == 0 {
		return nil, errors.New("acme: no domains")
	}
	if c.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("acme: no cache_dir and no user cache directory: %w", err)
		}
		c.CacheDir = filepath.Join(dir, "hop", "acme")
	}
	client := &acme.Client{DirectoryURL: c.DirectoryURL}
	if c.Roots != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: c.Roots, MinVersion: tls.VersionTLS12}
		client.HTTPClient = &http.Client{Transport: tr}
	}
	return &ACME{m: &autocert.Manager{
		Prompt:      autocert.AcceptTOS,
		Cache:       autocert.DirCache(c.CacheDir),
		HostPolicy:  autocert.HostWhitelist(c.Domains...),
		RenewBefore: c.RenewBefore,
		Email:       c.Email,
		Client:      client,
	}}, nil
}

// GetCertificate serves the certificate for the handshake's name, obtaining it first if needed,
// and answers TLS-ALPN-01 challenges.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.m.GetCertificate(hello)
}

// HTTPHandler answers HTTP-01 challenges and hands every other request to fallback.
func (a *ACME) HTTPHandler(fallback http.Handler) http.Handler {
	h := a.m.HTTPHandler(fallback)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// autocert checks the Host header against the names as it comes, port included: a CA
		// validating on another port than 80 (a test CA, a port-mapped node) would be refused.
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
}

// TLSConfig is ServerConfig offering the ALPN protocol of TLS-ALPN-01 challenges.
func (a *ACME) TLSConfig() *tls.Config { return ServerConfig(a, acme.ALPNProto) }
