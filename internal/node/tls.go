package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/hop-meet/hop/certs"
	"github.com/hop-meet/hop/internal/config"
)

// frontTLS is what the node adds in front of its HTTP server when TLS is configured.
type frontTLS struct {
	redirect *http.Server // plain-HTTP redirects and ACME HTTP-01; nil when off
}

// setupTLS makes the node's listener serve HTTPS (and its URL wss) when a certificate source is
// configured, adds HSTS to its responses, and starts the plain-HTTP redirect listener.
func (n *Node) setupTLS() error {
	t := &n.cfg.TLS
	if !t.Enabled() {
		return nil
	}
	tlsCfg, acmeHTTP, err := tlsSource(t, n.log)
	if err != nil {
		return err
	}
	front := &frontTLS{}
	if t.HTTPRedirectPort > 0 {
		addr := net.JoinHostPort(n.cfg.BindAddress, strconv.Itoa(t.HTTPRedirectPort))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen http redirect %s: %w", addr, err)
		}
		var h http.Handler = certs.Redirect(n.listener.Addr().(*net.TCPAddr).Port)
		if acmeHTTP != nil {
			h = acmeHTTP(h)
		}
		front.redirect = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = front.redirect.Serve(ln) }()
		n.log.Info("plain HTTP redirects to HTTPS", "addr", ln.Addr().String())
	}
	if n.cfg.TURN.Enabled && n.cfg.TURN.TLS {
		mux := newTLSMux(n.listener, tlsCfg, n.cfg.HTTP.ReadHeaderTimeout)
		n.listener, n.turnTLS = mux.http, mux.turn
		n.http.ConnContext = connTLSState
		n.http.Handler = withTLSState(certs.HSTS(n.http.Handler))
	} else {
		n.listener = tls.NewListener(n.listener, tlsCfg)
		n.http.Handler = certs.HSTS(n.http.Handler)
	}
	n.tls = front
	return nil
}

// tlsSource builds the TLS settings from files or ACME; for ACME also the wrapper answering
// HTTP-01 challenges.
func tlsSource(t *config.TLSConfig, log *slog.Logger) (*tls.Config, func(http.Handler) http.Handler, error) {
	if t.Cert != "" {
		f, err := certs.LoadFiles(t.Cert, t.Key, log)
		if err != nil {
			return nil, nil, err
		}
		return f.TLSConfig(), nil, nil
	}
	a := t.ACME
	c := certs.ACMEConfig{Domains: a.Domains, Email: a.Email, DirectoryURL: a.DirectoryURL(), CacheDir: a.CacheDir, RenewBefore: a.RenewBefore}
	if a.CAFile != "" {
		roots, err := certs.LoadRoots(a.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls.acme.ca_file: %w", err)
		}
		c.Roots = roots
	}
	m, err := certs.NewACME(c)
	if err != nil {
		return nil, nil, err
	}
	log.Info("certificates from ACME", "domains", a.Domains, "directory", c.DirectoryURL)
	return m.TLSConfig(), m.HTTPHandler, nil
}

// close stops the redirect listener.
func (f *frontTLS) close(ctx context.Context) {
	if f != nil && f.redirect != nil {
		_ = f.redirect.Shutdown(ctx)
	}
}
