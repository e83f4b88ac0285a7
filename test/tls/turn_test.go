package tls_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"github.com/pion/turn/v5"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/certs"
	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// The relay range of turnNode: high ports, unlikely to be taken.
const relayMin, relayMax = 61000, 61099

// turnNode serves HTTPS and TURN over TLS on one port, TURN over UDP and over TCP on their own.
func turnNode(t *testing.T) (*testkit.Node, *x509.CertPool, int) {
	t.Helper()
	lan, err := certs.InitLAN(t.TempDir(), []string{"hop.lan"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	roots, err := certs.LoadRoots(lan.CACert)
	if err != nil {
		t.Fatal(err)
	}
	tcp := freePort(t)
	n := testkit.StartNode(t, func(c *config.Config) {
		c.TLS.Cert, c.TLS.Key = lan.ServerCert, lan.ServerKey
		c.TURN.TCPPort = tcp
		c.TURN.TLS = true
		c.TURN.RelayPortMin, c.TURN.RelayPortMax = relayMin, relayMax
	})
	return n, roots, tcp
}

// joinICEServers joins over wss (checking the certificate for serverName, or the address) and
// returns the ICE servers of the JoinResponse.
func joinICEServers(t *testing.T, n *testkit.Node, roots *x509.CertPool, serverName string) []*livekit.ICEServer {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: serverName}, HandshakeTimeout: 10 * time.Second}
	u := n.URL() + "/rtc?auto_subscribe=1&protocol=17&sdk=go&access_token=" + url.QueryEscape(n.Token(t, "turn-room", "ana"))
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
	return sr.GetJoin().GetIceServers()
}

// turnClient allocates a relay through a TURN client on conn.
func turnClient(t *testing.T, conn net.PacketConn, server, user, pass string) (*turn.Client, net.PacketConn) {
	t.Helper()
	c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: server, STUNServerAddr: server, Username: user, Password: pass, Conn: conn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("allocate through %s: %v", server, err)
	}
	t.Cleanup(func() { _ = relay.Close() })
	return c, relay
}

// The JoinResponse names TURN over UDP, TCP and TLS on the HTTPS port; each of them allocates a
// relay with the participant's credentials, in the relay port range; permissions are granted to the node's media address
// only; and the HTTPS port still serves HTTP, with ALPN and without.
func TestTURNOverTCPAndTLSOnTheHTTPSPort(t *testing.T) {
	n, roots, tcpPort := turnNode(t)
	httpsPort := port(t, n)
	ice := joinICEServers(t, n, roots, "")
	var srv *livekit.ICEServer
	for _, s := range ice {
		if s.Username != "" {
			srv = s
		}
	}
	if srv == nil {
		t.Fatalf("no TURN server with credentials in the JoinResponse: %v", ice)
	}
	want := map[string]bool{
		"turn:127.0.0.1:" + strconv.Itoa(tcpPort) + "?transport=tcp": false,
		"turns:127.0.0.1:" + httpsPort + "?transport=tcp":            false,
	}
	var udpURL string
	for _, u := range srv.Urls {
		if strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "?transport=udp") {
			udpURL = u
		}
		if _, ok := want[u]; ok {
			want[u] = true
		}
	}
	for u, seen := range want {
		if !seen {
			t.Errorf("JoinResponse lacks %s (has %v)", u, srv.Urls)
		}
	}
	if udpURL == "" {
		t.Fatalf("no turn: URL over UDP in %v", srv.Urls)
	}
	udpAddr := strings.TrimSuffix(strings.TrimPrefix(udpURL, "turn:"), "?transport=udp")
	sfuAddr := n.Engine().UDPAddr()
	elsewhere := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}

	dialTLS := func(protos ...string) net.PacketConn {
		c, err := tls.Dial("tcp", "127.0.0.1:"+httpsPort, &tls.Config{RootCAs: roots, NextProtos: protos})
		if err != nil {
			t.Fatalf("TLS to the HTTPS port (ALPN %v): %v", protos, err)
		}
		return turn.NewSTUNConn(c)
	}
	transports := []struct {
		name   string
		server string
		conn   func() net.PacketConn
	}{
		{"udp", udpAddr, func() net.PacketConn {
			c, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return c
		}},
		{"tcp", "127.0.0.1:" + strconv.Itoa(tcpPort), func() net.PacketConn {
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(tcpPort))
			if err != nil {
				t.Fatal(err)
			}
			return turn.NewSTUNConn(c)
		}},
		// Browsers send no ALPN for turns: URLs; RFC 7443 clients send stun.turn.
		{"tls", "127.0.0.1:" + httpsPort, func() net.PacketConn { return dialTLS() }},
		{"tls-alpn", "127.0.0.1:" + httpsPort, func() net.PacketConn { return dialTLS("stun.turn") }},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c, relay := turnClient(t, tr.conn(), tr.server, srv.Username, srv.Credential)
			if a, ok := relay.LocalAddr().(*net.UDPAddr); !ok || a.Port < relayMin || a.Port > relayMax {
				t.Errorf("relayed address %v outside the relay range %d-%d", relay.LocalAddr(), relayMin, relayMax)
			}
			if err := c.CreatePermission(sfuAddr); err != nil {
				t.Errorf("permission to the node's media address %s refused: %v", sfuAddr, err)
			}
			if err := c.CreatePermission(elsewhere); err == nil {
				t.Errorf("permission to %s granted: the relay reaches beyond the node", elsewhere)
			}
		})
	}
	// Wrong credentials get no relay.
	bad, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: "127.0.0.1:" + httpsPort, Username: srv.Username, Password: "wrong", Conn: dialTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Listen(); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Allocate(); err == nil {
		t.Error("allocation with a wrong password succeeded")
	}

	// HTTPS beside TURN: a browser's ALPN, and none at all (curl --no-alpn, openssl s_client).
	resp, err := httpsClient(roots).Get("https://127.0.0.1:" + httpsPort + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with ALPN: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("HTTPS with ALPN: status %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	raw, err := tls.Dial("tcp", "127.0.0.1:"+httpsPort, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Write([]byte("GET /healthz HTTP/1.1\r\nHost: hop.lan\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	r, err := http.ReadResponse(bufio.NewReader(raw), nil)
	if err != nil {
		t.Fatalf("HTTPS without ALPN: %v", err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK || r.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("HTTPS without ALPN: status %d, HSTS %q (the request must know it came over TLS)", r.StatusCode, r.Header.Get("Strict-Transport-Security"))
	}
}
