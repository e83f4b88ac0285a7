// Package tls_test runs nodes over HTTPS with real certificates (a private CA made by `hop certs
// init`'s code, an ACME CA) and checks them with real clients: Go's TLS, openssl, a websocket.
package tls_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/hop-meet/hop/certs"
	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// freePort finds a loopback TCP port nothing listens on, for settings that must be known before
// the process that takes them starts (pebble's challenge ports, the redirect port).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lanNode starts a node serving HTTPS with a certificate from a fresh private CA for hop.lan and
// 127.0.0.1, redirecting plain HTTP from its redirect port; it returns the node, the CA's roots
// and the redirect port.
func lanNode(t *testing.T) (*testkit.Node, *x509.CertPool, int) {
	t.Helper()
	lan, err := certs.InitLAN(t.TempDir(), []string{"hop.lan"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	roots, err := certs.LoadRoots(lan.CACert)
	if err != nil {
		t.Fatal(err)
	}
	redirect := freePort(t)
	n := testkit.StartNode(t, func(c *config.Config) {
		c.TLS.Cert, c.TLS.Key, c.TLS.HTTPRedirectPort = lan.ServerCert, lan.ServerKey, redirect
	})
	return n, roots, redirect
}

func port(t *testing.T, n *testkit.Node) string {
	t.Helper()
	return strconv.Itoa(n.Addr().(*net.TCPAddr).Port)
}

// httpsClient trusts only roots.
func httpsClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
