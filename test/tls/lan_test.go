package tls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/certs"
)

// A node with a certificate from the private CA: a client trusting only ca.crt connects, gets
// HSTS, and joins a room over wss; plain HTTP is redirected to HTTPS.
func TestLANCertificateNode(t *testing.T) {
	n, roots, redirect := lanNode(t)
	base := "https://127.0.0.1:" + port(t, n)
	if !strings.HasPrefix(n.URL(), "wss://") {
		t.Errorf("URL() = %q, want wss://", n.URL())
	}

	resp, err := httpsClient(roots).Get(base + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with the private CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age="+certs.HSTSMaxAge {
		t.Errorf("Strict-Transport-Security = %q", got)
	}

	// By name too, as a LAN client reaching it through its DNS name would.
	c, err := tls.Dial("tcp", n.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "hop.lan"})
	if err != nil {
		t.Fatalf("handshake for hop.lan: %v", err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(v))
	}
	c.Close()

	// A client that does not trust the private CA is refused the handshake.
	var unknown x509.UnknownAuthorityError
	if _, err := tls.Dial("tcp", n.Addr().String(), &tls.Config{ServerName: "hop.lan"}); !errors.As(err, &unknown) {
		t.Errorf("client without the CA: %v, want an unknown-authority error", err)
	}

	// Signalling over wss: the join response arrives.
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: 10 * time.Second}
	u := n.URL() + "/rtc?auto_subscribe=1&protocol=17&sdk=go&access_token=" + url.QueryEscape(n.Token(t, "tls-room", "ana"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := d.DialContext(ctx, u, nil)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read join: %v", err)
	}
	var sr livekit.SignalResponse
	if err := proto.Unmarshal(msg, &sr); err != nil || sr.GetJoin() == nil {
		t.Fatalf("first message is not a join response (%v): %v", err, &sr)
	}
	if sr.GetJoin().GetRoom().GetName() != "tls-room" {
		t.Errorf("joined room %q", sr.GetJoin().GetRoom().GetName())
	}

	// Plain HTTP on the redirect port: a permanent redirect to the same path over HTTPS.
	plain := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	r, err := plain.Get("http://127.0.0.1:" + strconv.Itoa(redirect) + "/room/demo?lang=en")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMovedPermanently && r.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("plain HTTP: status %d, want 301 or 308", r.StatusCode)
	}
	if loc := r.Header.Get("Location"); loc != base+"/room/demo?lang=en" {
		t.Errorf("Location = %q, want %q", loc, base+"/room/demo?lang=en")
	}
	// Following it lands on the HTTPS page.
	follow := httpsClient(roots)
	r, err = follow.Get("http://127.0.0.1:" + strconv.Itoa(redirect) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK || r.TLS == nil {
		t.Errorf("after the redirect: status %d, TLS %v", r.StatusCode, r.TLS != nil)
	}
	// And the HTTPS port does not answer plain HTTP.
	if r, err := plain.Get("http://127.0.0.1:" + port(t, n) + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Error("the HTTPS port served plain HTTP")
		}
	}
}
