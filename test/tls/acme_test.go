package tls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hop-meet/hop/certs"
	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// acmeName is the name the node gets certificates for; challtestsrv resolves it to 127.0.0.1 for
// pebble (autocert wants at least two labels, so not "localhost").
const acmeName = "hop.test"

// goTool builds (or finds in Go's cache) a tool declared in go.mod and returns its path.
func goTool(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "tool", "-n", name).Output()
	if err != nil {
		t.Fatalf("building %s (a tool in go.mod): %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// run starts a test's helper process, logging to a file shown if the test fails.
func run(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logPath := filepath.Join(t.TempDir(), filepath.Base(bin)+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", filepath.Base(bin), b)
		}
	})
}

// startDNS runs pebble's challenge test server as a DNS server answering 127.0.0.1 for every
// name, and returns its address once it answers.
func startDNS(t *testing.T) string {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(freeUDPPort(t))
	run(t, goTool(t, "pebble-challtestsrv"), nil, "-dnsserver", addr, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-management", "127.0.0.1:"+strconv.Itoa(freePort(t)), "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ips, err := r.LookupHost(ctx, acmeName)
		cancel()
		if err == nil && len(ips) == 1 && ips[0] == "127.0.0.1" {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("challtestsrv does not answer at %s: %v %v", addr, ips, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeUDPPort finds a loopback UDP port nothing listens on, also free for TCP (DNS uses both).
func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		pc.Close()
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// pebble is letsencrypt's ACME test server, run for one test on loopback.
type pebble struct {
	dirURL string
	roots  *x509.CertPool // the roots pebble issues under
}

// startPebble runs pebble with its own HTTPS certificate from a private CA (caFile, caRoots),
// validating challenges for real on loopback: HTTP-01 at httpPort, TLS-ALPN-01 at tlsPort.
// Its certificates last validity.
func startPebble(t *testing.T, lan *certs.LAN, caRoots *x509.CertPool, httpPort, tlsPort int, validity time.Duration) *pebble {
	t.Helper()
	listen, mgmt := freePort(t), freePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress": "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate":             lan.ServerCert,
		"privateKey":              lan.ServerKey,
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"keyAlgorithm":            "ecdsa",
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"profiles":                map[string]any{"default": map[string]any{"validityPeriod": int(validity / time.Second)}},
	}}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Validation happens for real (no PEBBLE_VA_ALWAYS_VALID), without pebble's random delays,
	// and every order is validated anew.
	run(t, goTool(t, "pebble"), []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", cfgPath, "-dnsserver", startDNS(t))
	// pebble tells of no readiness but its listening ports.
	client := httpsClient(caRoots)
	rootURL := fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmt)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get(rootURL)
		if err == nil {
			pemRoot, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			roots := x509.NewCertPool()
			if resp.StatusCode == 200 && roots.AppendCertsFromPEM(pemRoot) {
				return &pebble{dirURL: fmt.Sprintf("https://127.0.0.1:%d/dir", listen), roots: roots}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not serving its root at %s: %v", rootURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// acmeNode starts a node on httpsPort getting its certificate for acmeName from p.
func acmeNode(t *testing.T, p *pebble, caFile string, httpsPort, redirectPort int, renewBefore time.Duration) *testkit.Node {
	t.Helper()
	return testkit.StartNode(t, func(c *config.Config) {
		c.Port = httpsPort
		c.TLS.HTTPRedirectPort = redirectPort
		c.TLS.ACME = config.ACMEConfig{
			Domains:     []string{acmeName},
			Email:       "ops@hop.test",
			DirURL:      p.dirURL,
			CacheDir:    t.TempDir(),
			CAFile:      caFile,
			RenewBefore: renewBefore,
		}
	})
}

// servedCert handshakes with the node for acmeName, trusting only pebble's roots.
func servedCert(t *testing.T, n *testkit.Node, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	d := &net.Dialer{Timeout: 30 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", n.Addr().String(), &tls.Config{RootCAs: roots, ServerName: acmeName})
	if err != nil {
		t.Fatalf("handshake with the ACME certificate: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// The node obtains a certificate from a real ACME server, answering its TLS-ALPN-01 challenge on
// the HTTPS port (no plain-HTTP listener), serves it, and renews it before it expires.
func TestACMETLSALPN01AndRenewal(t *testing.T) {
	lan, caRoots := pebbleTLS(t)
	httpsPort := freePort(t)
	// HTTP-01 would go to a port nobody listens on: only TLS-ALPN-01 can succeed.
	// Short-lived certificates: by default renewal is due when a third of the lifetime is left.
	const lifetime = 15 * time.Second
	p := startPebble(t, lan, caRoots, freePort(t), httpsPort, lifetime)
	n := acmeNode(t, p, lan.CACert, httpsPort, 0, 0)

	first := servedCert(t, n, p.roots)
	if len(first.DNSNames) != 1 || first.DNSNames[0] != acmeName {
		t.Fatalf("served certificate for %v", first.DNSNames)
	}
	if d := first.NotAfter.Sub(first.NotBefore); d > lifetime+time.Second {
		t.Errorf("certificate lifetime %v, want pebble's %v", d, lifetime)
	}
	hc := httpsClient(p.roots)
	hc.Transport.(*http.Transport).TLSClientConfig.ServerName = acmeName
	resp, err := hc.Get("https://127.0.0.1:" + strconv.Itoa(httpsPort) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS header over the ACME certificate")
	}
	// TURN over TLS on this port is offered under the certificate's name, which browsers check.
	var turns []string
	for _, s := range joinICEServers(t, n, p.roots, acmeName) {
		for _, u := range s.Urls {
			if strings.HasPrefix(u, "turns:") {
				turns = append(turns, u)
			}
		}
	}
	if want := "turns:" + net.JoinHostPort(acmeName, strconv.Itoa(httpsPort)) + "?transport=tcp"; len(turns) != 1 || turns[0] != want {
		t.Errorf("turns URLs %v, want [%s]", turns, want)
	}

	// A renewed certificate replaces it without a restart; renewal has no event to wait for.
	deadline := time.Now().Add(lifetime + 10*time.Second)
	for {
		got := servedCert(t, n, p.roots)
		if got.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if !got.NotAfter.After(first.NotAfter) {
				t.Errorf("renewed certificate expires %v, not after the first's %v", got.NotAfter, first.NotAfter)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving serial %s at %v (expiry %v)", first.SerialNumber.Text(16), time.Now(), first.NotAfter)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// With TLS-ALPN-01 out of reach, the node answers HTTP-01 on its plain-HTTP redirect port.
func TestACMEHTTP01(t *testing.T) {
	lan, caRoots := pebbleTLS(t)
	httpsPort, redirectPort := freePort(t), freePort(t)
	p := startPebble(t, lan, caRoots, redirectPort, freePort(t), 24*time.Hour)
	n := acmeNode(t, p, lan.CACert, httpsPort, redirectPort, 0)
	got := servedCert(t, n, p.roots)
	if len(got.DNSNames) != 1 || got.DNSNames[0] != acmeName {
		t.Fatalf("served certificate for %v", got.DNSNames)
	}
}

// pebbleTLS makes the certificate pebble serves its API with, from a private CA the node trusts
// through tls.acme.ca_file.
func pebbleTLS(t *testing.T) (*certs.LAN, *x509.CertPool) {
	t.Helper()
	lan, err := certs.InitLAN(t.TempDir(), []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	roots, err := certs.LoadRoots(lan.CACert)
	if err != nil {
		t.Fatal(err)
	}
	return lan, roots
}
