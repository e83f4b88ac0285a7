package sfu_test

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/sfu"
)

// checksPerPair is how many connectivity checks pion sends on a pair that never answers: its
// default MaxBindingRequests and the first.
const checksPerPair = 8

// candidatePorts are the namespace's ports the abusive candidates name; nothing listens there, the
// namespace's nftables counter sees every packet sent to them.
const (
	candidatePortLow  = 40000
	candidatePortHigh = 49999
)

func newAnswerer(t *testing.T, cfg sfu.Config) *sfu.Transport {
	t.Helper()
	cfg.UDPPort, cfg.TCPPort = 0, -1
	e, err := sfu.NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	tr, err := sfu.NewTransport(sfu.TransportParams{Engine: e, Role: sfu.RoleAnswerer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// clientOffer is a real pion offer with no candidates of its own (it never gathers).
func clientOffer(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

func candidate(i int, ip string, port int) string {
	return fmt.Sprintf("candidate:%d 1 udp %d %s %d typ host", i, 2130706431-i, ip, port)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitChecksDone waits until every candidate pair of the node's connection has failed (pion then
// checks none of them again: this has no event), failing as soon as more than bound checks were
// counted. It returns the pairs and the checks.
func waitChecksDone(t *testing.T, tr *sfu.Transport, ns *testkit.NetNS, bound int64) (pairs int, checks int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := ns.CountedUDP()
		if err != nil {
			t.Fatal(err)
		}
		if n > bound {
			t.Fatalf("the node sent %d connectivity checks to the candidates' addresses, want at most %d", n, bound)
		}
		pairs, failed := 0, 0
		for _, s := range tr.PeerConnection().GetStats() {
			if p, ok := s.(webrtc.ICECandidatePairStats); ok {
				pairs++
				if p.State == webrtc.StatsICECandidatePairStateFailed {
					failed++
				}
			}
		}
		if pairs > 0 && failed == pairs {
			n, err := ns.CountedUDP()
			if err != nil {
				t.Fatal(err)
			}
			if n > bound {
				t.Fatalf("the node sent %d connectivity checks to the candidates' addresses, want at most %d", n, bound)
			}
			return pairs, n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d candidate pairs failed after 20 s; %d checks sent", failed, pairs, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An offer listing 10,000 candidates costs the node no more than one with MaxRemoteCandidates,
// and the node probes at most that many of the addresses.
func TestOfferWithTenThousandCandidates(t *testing.T) {
	ns := testkit.NewNetNS(t, 201)
	tr := newAnswerer(t, sfu.Config{BindAddress: ns.HostIP(), AllowedPeers: mustCIDRs(t, ns.IP()+"/32")})
	ns.CountUDP(fmt.Sprintf("%d-%d", candidatePortLow, candidatePortHigh))

	var b strings.Builder
	b.WriteString(clientOffer(t))
	for i := 0; i < 10000; i++ {
		b.WriteString("a=" + candidate(i, ns.IP(), candidatePortLow+i) + "\r\n")
	}
	start, cpu := time.Now(), cpuTime()
	if _, _, _, err := tr.HandleOffer(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: b.String()}); err != nil {
		t.Fatalf("offer of %d bytes: %v", b.Len(), err)
	}
	t.Logf("offer of %d bytes answered in %v (process CPU %v)", b.Len(), time.Since(start), cpuTime()-cpu)

	pairs, checks := waitChecksDone(t, tr, ns, sfu.MaxRemoteCandidates*checksPerPair)
	t.Logf("%d candidate pairs, %d checks sent", pairs, checks)
	if pairs != sfu.MaxRemoteCandidates {
		t.Errorf("%d candidate pairs, want %d (the candidates taken, each with the node's one address)", pairs, sfu.MaxRemoteCandidates)
	}
	if checks < sfu.MaxRemoteCandidates {
		t.Errorf("%d checks sent, want at least one to each of the %d candidates taken", checks, sfu.MaxRemoteCandidates)
	}
}

// Trickled candidates share the offer's budget.
func TestTrickledCandidatesBounded(t *testing.T) {
	ns := testkit.NewNetNS(t, 202)
	tr := newAnswerer(t, sfu.Config{BindAddress: ns.HostIP(), AllowedPeers: mustCIDRs(t, ns.IP()+"/32")})
	ns.CountUDP(fmt.Sprintf("%d-%d", candidatePortLow, candidatePortHigh))

	offer := clientOffer(t) + "a=" + candidate(0, ns.IP(), candidatePortLow) + "\r\n"
	if _, _, _, err := tr.HandleOffer(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	cpu := cpuTime()
	for i := 1; i < 1000; i++ {
		if err := tr.AddICECandidate(webrtc.ICECandidateInit{Candidate: candidate(i, ns.IP(), candidatePortLow+i)}); err != nil {
			t.Fatalf("candidate %d: %v", i, err)
		}
	}
	t.Logf("999 trickled candidates taken in process CPU %v", cpuTime()-cpu)

	pairs, checks := waitChecksDone(t, tr, ns, sfu.MaxRemoteCandidates*checksPerPair)
	t.Logf("%d candidate pairs, %d checks sent", pairs, checks)
	if pairs != sfu.MaxRemoteCandidates {
		t.Errorf("%d candidate pairs, want %d", pairs, sfu.MaxRemoteCandidates)
	}
}

// With the default policy the node never probes loopback: a client naming 127.0.0.x (or any of
// the machine's own services) gets no packet sent there, while the private address it also names
// (the node's own network) is probed.
func TestDefaultPolicyNeverProbesLoopback(t *testing.T) {
	ns := testkit.NewNetNS(t, 203)
	tr := newAnswerer(t, sfu.Config{BindAddress: ns.HostIP()})

	inside, err := ns.ListenUDP(ns.IP() + ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inside.Close() })
	loop, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 5)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = loop.Close() })
	var loopChecks atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := loop.ReadFrom(buf); err != nil {
				return
			}
			loopChecks.Add(1)
		}
	}()

	offer := clientOffer(t) +
		"a=" + candidate(1, "127.0.0.5", loop.LocalAddr().(*net.UDPAddr).Port) + "\r\n" +
		"a=" + candidate(2, ns.IP(), inside.LocalAddr().(*net.UDPAddr).Port) + "\r\n"
	if _, _, _, err := tr.HandleOffer(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	// pion checks every pair in each round: once the namespace's listener has had three rounds'
	// checks, a loopback pair would have had two.
	_ = inside.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	for got := 0; got < 3; {
		n, _, err := inside.ReadFrom(buf)
		if err != nil {
			t.Fatalf("the private candidate got %d checks: %v", got, err)
		}
		if isSTUN(buf[:n]) {
			got++
		}
	}
	if n := loopChecks.Load(); n != 0 {
		t.Errorf("the node sent %d packets to a loopback candidate", n)
	}
}

func mustCIDRs(t *testing.T, s ...string) []*net.IPNet {
	t.Helper()
	n, err := sfu.ParseCIDRs(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// isSTUN: the first two bits zero and the magic cookie (RFC 5389).
func isSTUN(b []byte) bool {
	return len(b) >= 20 && b[0]&0xc0 == 0 && b[4] == 0x21 && b[5] == 0x12 && b[6] == 0xa4 && b[7] == 0x42
}
