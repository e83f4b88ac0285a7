package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func addrs(cidrs ...string) func() ([]net.Addr, error) {
	return func() ([]net.Addr, error) {
		var out []net.Addr
		for _, c := range cidrs {
			ip, n, err := net.ParseCIDR(c)
			if err != nil {
				return nil, err
			}
			n.IP = ip
			out = append(out, n)
		}
		return out, nil
	}
}

func TestPeerPolicy(t *testing.T) {
	yes, no := true, false
	never := []string{"127.0.0.1", "::1", "::ffff:127.0.0.1", "169.254.1.1", "fe80::1", "224.0.0.251", "ff02::1",
		"0.0.0.0", "::", "255.255.255.255", "0.1.2.3", "240.0.0.1"}
	private := []string{"10.1.2.3", "172.16.0.1", "192.168.1.20", "100.64.0.1", "fd00::1"}
	public := []string{"8.8.8.8", "2001:db8::1", "203.0.113.7"}
	cases := []struct {
		name       string
		cfg        Config
		ifs        func() ([]net.Addr, error)
		allow, not []string
	}{
		{name: "public node ip", cfg: Config{NodeIP: "203.0.113.1"}, ifs: addrs("10.0.0.5/24"),
			allow: public, not: append(never, private...)},
		{name: "lan node on all interfaces", ifs: addrs("127.0.0.1/8", "192.168.1.10/24", "fd00::10/64"),
			allow: append(public, private...), not: never},
		{name: "public interface with a docker bridge", ifs: addrs("198.51.100.4/24", "172.17.0.1/16"),
			allow: public, not: append(never, private...)},
		{name: "bound to a private address", cfg: Config{BindAddress: "10.0.0.5"}, ifs: addrs("198.51.100.4/24"),
			allow: append(public, private...), not: never},
		{name: "private peers refused on a lan node", cfg: Config{AllowPrivatePeers: &no}, ifs: addrs("192.168.1.10/24"),
			allow: public, not: append(never, private...)},
		{name: "private peers allowed on a public node", cfg: Config{NodeIP: "203.0.113.1", AllowPrivatePeers: &yes},
			ifs: addrs(), allow: append(public, private...), not: never},
		{name: "allowed peers override", cfg: Config{AllowedPeers: cidrs("10.213.0.0/16", "127.0.0.0/8"), AllowPrivatePeers: &no},
			ifs: addrs(), allow: []string{"10.213.4.2", "127.0.0.1"}, not: []string{"10.214.0.1", "8.8.8.8", "224.0.0.1"}},
		{name: "dev: own addresses and loopback", cfg: Config{BindAddress: "127.0.0.1", AllowSameMachinePeers: true},
			ifs: addrs("127.0.0.1/8", "10.213.5.2/24", "fd00::2/64"), allow: []string{"127.0.0.1", "::1", "10.213.5.2", "fd00::2"},
			not: append([]string{"10.213.5.3", "169.254.1.1", "224.0.0.251"}, public...)},
		{name: "public node with its TURN relay on a private address", cfg: Config{NodeIP: "203.0.113.1", RelayPeers: []net.IP{net.ParseIP("10.0.0.5")}},
			ifs: addrs("10.0.0.5/24"), allow: append([]string{"10.0.0.5"}, public...), not: append([]string{"10.0.0.6"}, never...)},
		{name: "relay beside allowed peers", cfg: Config{AllowedPeers: cidrs("10.213.0.0/16"), RelayPeers: []net.IP{net.ParseIP("192.0.2.1")}},
			ifs: addrs(), allow: []string{"192.0.2.1", "10.213.1.1"}, not: []string{"192.0.2.2", "8.8.8.8"}},
		{name: "loopback bind alone", cfg: Config{BindAddress: "127.0.0.1"}, ifs: addrs("127.0.0.1/8", "10.213.5.2/24"),
			allow: []string{"127.0.0.1", "127.0.0.2"}, not: []string{"10.213.5.2", "8.8.8.8"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPeerPolicy(c.cfg, c.ifs)
			for _, s := range c.allow {
				if !p.allow(net.ParseIP(s)) {
					t.Errorf("%s refused", s)
				}
			}
			for _, s := range c.not {
				if p.allow(net.ParseIP(s)) {
					t.Errorf("%s allowed", s)
				}
			}
		})
	}
}

// An address that appears on an interface after the first look is found on a later one.
func TestOwnAddrsSeesNewInterfaces(t *testing.T) {
	list := []string{"127.0.0.1/8"}
	o := &ownAddrs{list: func() ([]net.Addr, error) { return addrs(list...)() }}
	if o.has(net.ParseIP("10.9.9.9")) {
		t.Fatal("unknown address taken")
	}
	list = append(list, "10.9.9.9/24")
	o.fetched = o.fetched.Add(-ownAddrsRefresh)
	if !o.has(net.ParseIP("10.9.9.9")) {
		t.Fatal("address of a new interface refused")
	}
}

func cidrs(s ...string) []*net.IPNet {
	n, err := ParseCIDRs(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestRemoteCandsBudget(t *testing.T) {
	policy := newPeerPolicy(Config{AllowedPeers: cidrs("10.0.0.0/8")}, addrs())
	r := newRemoteCands(policy, slog.New(slog.DiscardHandler))
	r.generation("u1")
	var sdp strings.Builder
	sdp.WriteString("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:u1\r\n")
	for i := range MaxRemoteCandidates + 10 {
		fmt.Fprintf(&sdp, "a=candidate:%d 1 udp 1 10.0.%d.%d 5000 typ host\r\n", i, i/250, i%250+1)
	}
	sdp.WriteString("a=candidate:x 1 udp 1 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n")
	out := r.limitSDP(sdp.String())
	if n := strings.Count(out, "a=candidate:"); n != MaxRemoteCandidates {
		t.Fatalf("%d candidate lines kept, want %d", n, MaxRemoteCandidates)
	}
	if !strings.HasPrefix(out, "v=0\r\nm=audio") || !strings.HasSuffix(out, "a=end-of-candidates\r\n") || strings.Contains(out, "127.0.0.1") {
		t.Fatalf("description mangled:\n%s", out)
	}
	// A renegotiation repeats the same candidates: all kept, none counted again.
	if again := r.limitSDP(out); again != out {
		t.Fatal("a repeated candidate was dropped")
	}
	if r.take("candidate:y 1 udp 1 10.9.9.9 5000 typ host") {
		t.Fatal("a trickled candidate over the budget was taken")
	}
	// Addresses signalled pass pion's filter uncounted; others are learned, up to the budget.
	for range 3 * MaxRemoteCandidates {
		if !r.filter(net.ParseIP("10.0.0.1")) {
			t.Fatal("a signalled address was refused")
		}
	}
	for i := range MaxRemoteCandidates {
		if !r.filter(net.IPv4(10, 1, 0, byte(i))) {
			t.Fatalf("peer-reflexive address %d refused", i)
		}
	}
	if r.filter(net.ParseIP("10.2.0.1")) {
		t.Fatal("peer-reflexive address over the budget taken")
	}
	if r.filter(net.ParseIP("127.0.0.1")) {
		t.Fatal("loopback taken")
	}
	// An ICE restart starts a new budget.
	r.generation("u2")
	if !r.take("candidate:y 1 udp 1 10.9.9.9 5000 typ host") || !r.filter(net.ParseIP("10.2.0.1")) {
		t.Fatal("budget not renewed by an ICE restart")
	}
}
