//go:build linux

package udpbatch

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Every packet reaching the shared port must be read from the read socket: a reuseport group
// without the steering program would hash some peers onto the send socket, where nobody reads.
// Replies leave from the same port.
func TestListenSteersEveryPacketToTheReadSocket(t *testing.T) {
	for _, tc := range []struct{ name, network, addr, peerNet, peerAddr string }{
		{"ipv4", "udp4", "127.0.0.1:0", "udp4", "127.0.0.1:0"},
		{"dual-stack", "udp", "[::]:0", "udp4", "127.0.0.1:0"},
		{"ipv6", "udp6", "[::1]:0", "udp6", "[::1]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := open(t, tc.network, tc.addr, true)
			if conn.sender.fd < 0 {
				t.Fatal("Listen made no send-only socket")
			}
			port := conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()
			ip := netip.MustParseAddr("127.0.0.1")
			if tc.peerNet == "udp6" {
				ip = netip.IPv6Loopback()
			}
			dst := netip.AddrPortFrom(ip, port)
			const peers, each = 16, 8
			ps := make([]*net.UDPConn, peers)
			for i := range ps {
				ps[i] = listen(t, tc.peerNet, tc.peerAddr)
				for j := 0; j < each; j++ {
					if _, err := ps[i].WriteToUDPAddrPort(payload(j), dst); err != nil {
						t.Fatal(err)
					}
				}
			}
			buf := make([]byte, 2048)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := map[uint16]int{}
			for n := 0; n < peers*each; n++ {
				_, from, err := conn.ReadFromAddrPort(buf)
				if err != nil {
					t.Fatalf("read %d of %d packets: %v (the rest went to the send socket?)", n, peers*each, err)
				}
				got[from.Port()]++
			}
			// Replies come from the node's port.
			for _, p := range ps {
				if _, err := conn.WriteToAddrPort(payload(1), p.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
					t.Fatal(err)
				}
				_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, from, err := p.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatal(err)
				}
				if from.Port() != port {
					t.Fatalf("reply from port %d, want %d", from.Port(), port)
				}
				if got[p.LocalAddr().(*net.UDPAddr).AddrPort().Port()] != each {
					t.Fatalf("read %d packets from a peer, want %d", got[p.LocalAddr().(*net.UDPAddr).AddrPort().Port()], each)
				}
			}
		})
	}
}

// Sharing the port with SO_REUSEPORT must not let a second node bind it too: the second would
// receive nothing.
func TestListenRefusesAPortInUse(t *testing.T) {
	first, err := Listen("udp4", "127.0.0.1:0", 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(first.LocalAddr().(*net.UDPAddr).AddrPort().Port())))
	if second, err := Listen("udp4", addr, 0); !errors.Is(err, syscall.EADDRINUSE) {
		if second != nil {
			_ = second.Close()
		}
		t.Fatalf("second Listen on %s: %v, want EADDRINUSE", addr, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if first.sender.fd != -1 {
		t.Fatal("Close left the send-only socket open")
	}
	if _, err := first.WriteToAddrPort(payload(1), netip.MustParseAddrPort(addr)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v, want net.ErrClosed", err)
	}
	// Both sockets are gone: the port can be bound again.
	again, err := Listen("udp4", addr, 0)
	if err != nil {
		t.Fatalf("Listen on %s after Close: %v", addr, err)
	}
	_ = again.Close()
}

// Packets of one batch for one peer leave in as few messages as segmentation offload allows (a
// run of one size, the last of it possibly shorter), and every peer still reads each packet, whole
// and in the order written.
func TestGSOGroupsEachPeersPackets(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			conn := open(t, "udp", "[::]:0", m.listen)
			if !conn.GSO() {
				t.Fatal("the kernel refuses UDP_SEGMENT")
			}
			a, b := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
			toA, toB := a.LocalAddr().(*net.UDPAddr).AddrPort(), b.LocalAddr().(*net.UDPAddr).AddrPort()
			// A: [1000 1000 1000 600] [1000] [1200 300]; B: [800 x5]. 4 messages.
			sizesA := []int{1000, 1000, 1000, 600, 1000, 1200, 300}
			var wantA, wantB [][]byte
			conn.Begin(-1)
			for i, n := range sizesA {
				p := bytes.Repeat([]byte{byte(i + 1)}, n)
				wantA = append(wantA, p)
				if _, err := conn.WriteToAddrPort(p, toA); err != nil {
					t.Fatal(err)
				}
				if i < 5 {
					q := bytes.Repeat([]byte{byte(100 + i)}, 800)
					wantB = append(wantB, q)
					if _, err := conn.WriteToAddrPort(q, toB); err != nil {
						t.Fatal(err)
					}
				}
			}
			conn.End(-1)
			for _, peer := range []struct {
				c    *net.UDPConn
				want [][]byte
			}{{a, wantA}, {b, wantB}} {
				buf := make([]byte, 2048)
				_ = peer.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				for i, w := range peer.want {
					n, _, err := peer.c.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("packet %d: %v", i, err)
					}
					if !bytes.Equal(buf[:n], w) {
						t.Fatalf("packet %d: %d bytes of %d, want %d of %d", i, n, buf[0], len(w), w[0])
					}
				}
			}
			if _, packets, _ := conn.Stats(); packets != 12 {
				t.Fatalf("%d packets sent, want 12", packets)
			}
			if msgs := conn.Messages(); msgs != 4 {
				t.Fatalf("%d messages, want 4", msgs)
			}
		})
	}
}
