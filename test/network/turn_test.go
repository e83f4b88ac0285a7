package network_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hop-meet/hop/certs"
	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/test/browser"
)

// turnNSIdx is the namespace of the TURN tests (10.213.173.0/24).
const turnNSIdx = 173

// httpsNamespaceNode serves one namespace over HTTPS (a private-CA certificate for the host side's
// address) with the embedded TURN server on UDP, TCP (when tcp) and TLS on the HTTPS port, and
// ICE-TCP (when tcp); it returns the node and a home directory whose NSS database trusts the CA,
// as a LAN client that installed ca.crt as `hop certs init` tells.
func httpsNamespaceNode(t *testing.T, ns *testkit.NetNS, tcp bool) (*testkit.Node, string) {
	t.Helper()
	lan, err := certs.InitLAN(t.TempDir(), []string{"hop.lan"}, []net.IP{net.ParseIP(ns.HostIP())})
	if err != nil {
		t.Fatal(err)
	}
	n := startNamespaceNode(t, func(c *config.Config) {
		c.TLS.Cert, c.TLS.Key = lan.ServerCert, lan.ServerKey
		c.TURN.Enabled = true
		c.TURN.BindAddress = "0.0.0.0"
		c.TURN.Host = ns.HostIP()
		c.TURN.RelayIP = ns.HostIP()
		c.TURN.TLS = true
		c.TURN.UDPPort = freeUDPPort(t)
		if tcp {
			c.RTC.TCPPort = freeTCPPort(t)
			c.TURN.TCPPort = freeTCPPort(t)
		}
	})
	home := t.TempDir()
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + db, "--empty-password"},
		{"-A", "-d", "sql:" + db, "-t", "C,,", "-n", "hop-test-ca", "-i", lan.CACert},
	} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v: %s (make deps installs libnss3-tools)", args, err, out)
		}
	}
	return n, home
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// firewall lets the namespace send to the host only what allow lists ("tcp 443", "udp 3478"),
// replacing the previous rules; loopback stays open (the harness's page server).
func firewall(t *testing.T, ns *testkit.NetNS, allow ...string) {
	t.Helper()
	rules := "table inet hopt_fw\ndelete table inet hopt_fw\ntable inet hopt_fw {\n chain out {\n  type filter hook output priority 0; policy accept;\n  oifname \"lo\" accept\n"
	for _, a := range allow {
		proto, port, _ := strings.Cut(a, " ")
		rules += fmt.Sprintf("  ip daddr %s %s dport %s counter accept\n", ns.HostIP(), proto, port)
	}
	rules += fmt.Sprintf("  ip daddr %s counter drop\n }\n}\n", ns.HostIP())
	cmd := exec.Command("ip", "netns", "exec", ns.Name(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s\n%s", err, out, rules)
	}
}

// joinThrough runs two participants in one Chromium inside ns; they publish and must decode each
// other. It returns the report of the first, whose selected pair tells the path.
func joinThrough(ctx context.Context, t *testing.T, n *testkit.Node, ns *testkit.NetNS, home, room string, turnTransports ...string) *browser.ParticipantReport {
	t.Helper()
	_, port, _ := net.SplitHostPort(n.Addr().String())
	spec := browser.Spec{
		URL: "wss://" + net.JoinHostPort(ns.HostIP(), port),
		Participants: []browser.Participant{
			{Identity: "a", Token: n.Token(t, room, "a")},
			{Identity: "b", Token: n.Token(t, room, "b")},
		},
		ExpectWidth:      640,
		ExpectHeight:     360,
		DurationMs:       15000,
		ConnectTimeoutMs: 30000,
		TURNTransports:   turnTransports,
	}
	h, err := browser.Start(ctx, spec, func(c *exec.Cmd) {
		// Chromium on Linux trusts the roots of $HOME/.pki/nssdb.
		c.Env = append(os.Environ(), "HOME="+home)
		ns.Wrap(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := h.Wait()
	if err != nil {
		t.Fatalf("%s: %v\n%s", room, err, tail(h.Stderr(), 3000))
	}
	for _, id := range []string{"a", "b"} {
		p := res.Participant(id)
		other := map[string]string{"a": "b", "b": "a"}[id]
		if p == nil || !p.Connected {
			t.Fatalf("%s: %s did not connect: %+v", room, id, p)
		}
		r := p.Remote(other)
		if r == nil || r.Video.FramesDecoded[1] == 0 {
			t.Errorf("%s: %s decoded no video from %s: %+v", room, id, other, r)
		}
	}
	return res.Participant("a")
}

func selectedPair(p *browser.ParticipantReport) *browser.CandidatePair {
	for _, pc := range p.PeerConnections {
		if pc.SelectedPair != nil {
			return pc.SelectedPair
		}
	}
	return &browser.CandidatePair{}
}

// TestJoinPathsThroughFirewalls: a browser joins (publishes, and decodes the other participant)
// on each path a firewall leaves it, and the path taken is the one expected: UDP direct, ICE-TCP
// when UDP is blocked, TURN over UDP when only the TURN port takes UDP, TURN over TLS when only
// the HTTPS port is open. The join times are logged.
func TestJoinPathsThroughFirewalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ns := testkit.NewNetNS(t, turnNSIdx)
	n, home := httpsNamespaceNode(t, ns, true)
	_, https, _ := net.SplitHostPort(n.Addr().String())
	iceTCP := strconv.Itoa(n.Config.RTC.TCPPort)
	turnUDP := strconv.Itoa(n.Config.TURN.UDPPort)
	paths := []struct {
		name      string
		allow     []string // nil: no firewall
		turn      []string // the TURN transports the browser keeps (nil: all the node offers)
		local     string   // the selected local candidate's type and protocol
		remote    string   // the node's candidate's
		relayOver []string // how a relay candidate reaches the TURN server, any of
	}{
		{"udp-direct", nil, nil, "host udp", "host udp", []string{""}},
		// An active ICE-TCP connection's local candidate is peer-reflexive.
		{"ice-tcp", []string{"tcp " + https, "tcp " + iceTCP}, nil, "", "host tcp", []string{""}},
		// With both relays allocated, Chromium sometimes keeps only the one that connected first
		// (its UDP relay allocated on the node and then unused): either is right.
		{"turn-udp-or-tls", []string{"tcp " + https, "udp " + turnUDP}, nil, "relay udp", "host udp", []string{"udp", "tls"}},
		{"turn-udp", []string{"tcp " + https, "udp " + turnUDP}, []string{"udp"}, "relay udp", "host udp", []string{"udp"}},
		{"turn-tls-only-https-port", []string{"tcp " + https}, nil, "relay udp", "host udp", []string{"tls"}},
	}
	if turnUDP == "0" {
		t.Fatal("the TURN UDP port is not known")
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			if p.allow != nil {
				firewall(t, ns, p.allow...)
			}
			udpAllocs, tlsAllocs := turnAllocations(t, n, "udp"), turnAllocations(t, n, "tls")
			rep := joinThrough(ctx, t, n, ns, home, "path-"+p.name, p.turn...)
			sp := selectedPair(rep)
			t.Logf("JOIN %s: connected in %d ms; selected pair %s (relay over %q) -> %s", p.name, rep.ConnectMs, sp.Local, sp.LocalRelayProtocol, sp.Remote)
			if !strings.HasPrefix(sp.Local, p.local) || !strings.HasPrefix(sp.Remote, p.remote) || !slices.Contains(p.relayOver, sp.LocalRelayProtocol) {
				t.Errorf("selected pair %q (relay over %q) -> %q, want %q (over %q) -> %q", sp.Local, sp.LocalRelayProtocol, sp.Remote, p.local, p.relayOver, p.remote)
				for i, pc := range rep.PeerConnections {
					t.Logf("peer connection %d pairs:\n  %s", i, strings.Join(pc.CandidatePairs, "\n  "))
				}
			}
			for _, pc := range rep.PeerConnections {
				for _, want := range []string{"turn:" + net.JoinHostPort(ns.HostIP(), turnUDP) + "?transport=udp", "turns:"} {
					if !slices.ContainsFunc(pc.IceServerURLs, func(u string) bool { return strings.HasPrefix(u, want) }) {
						t.Errorf("the node offered %q, want one starting %q", pc.IceServerURLs, want)
					}
				}
			}
			// Whatever Chromium kept, each participant could allocate a relay over UDP.
			if p.name == "turn-udp-or-tls" {
				if got := turnAllocations(t, n, "udp") - udpAllocs; got < 2 {
					t.Errorf("%v TURN allocations over UDP for two participants, want 2 or more", got)
				}
			}
			if p.turn != nil && !slices.Contains(p.turn, "tls") {
				if got := turnAllocations(t, n, "tls") - tlsAllocs; got != 0 {
					t.Errorf("%v TURN allocations over TLS, want none: the browser was to keep only %v", got, p.turn)
				}
			}
		})
	}
}

// turnAllocations is the node's count of TURN relays allocated over transport.
func turnAllocations(t *testing.T, n *testkit.Node, transport string) float64 {
	t.Helper()
	res, err := http.Get(n.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "hop_turn_allocations_total{") && strings.Contains(line, `transport="`+transport+`"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no hop_turn_allocations_total for %s in /metrics", transport)
	return 0
}

// TestJoinThroughTURNTLSWithUDPBlocked: from a namespace where no UDP leaves, on a node without
// ICE-TCP or TURN over TCP, a browser joins through TURN over TLS on the HTTPS port.
func TestJoinThroughTURNTLSWithUDPBlocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns := testkit.NewNetNS(t, turnNSIdx)
	ns.BlockUDP()
	n, home := httpsNamespaceNode(t, ns, false)
	rep := joinThrough(ctx, t, n, ns, home, "udp-blocked")
	sp := selectedPair(rep)
	t.Logf("JOIN turn-tls-udp-blocked: connected in %d ms; selected pair %s (relay over %q) -> %s", rep.ConnectMs, sp.Local, sp.LocalRelayProtocol, sp.Remote)
	if !strings.HasPrefix(sp.Local, "relay") || sp.LocalRelayProtocol != "tls" {
		t.Errorf("selected local candidate %q over %q, want a relay over tls", sp.Local, sp.LocalRelayProtocol)
	}
	if blocked, err := ns.BlockedUDP(); err != nil {
		t.Error(err)
	} else if blocked == 0 {
		t.Error("no UDP packet was blocked: the test did not exercise a UDP-less network")
	}
}
