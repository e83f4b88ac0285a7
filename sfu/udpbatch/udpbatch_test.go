package udpbatch

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

func listen(t testing.TB, network, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func payload(i int) []byte {
	return bytes.Repeat([]byte{byte(i)}, 100+i)
}

// receive reads n packets and checks they are payload(0..n-1) in order.
func receive(t *testing.T, c *net.UDPConn, n int) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < n; i++ {
		m, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !bytes.Equal(buf[:m], payload(i)) {
			t.Fatalf("packet %d: got %d bytes starting %d", i, m, buf[0])
		}
	}
}

func TestBatchReachesEveryPeer(t *testing.T) {
	for _, tc := range []struct{ name, local, peer string }{
		{"ipv4", "udp4", "127.0.0.1:0"},
		{"dual-stack to ipv4", "udp", "127.0.0.1:0"},
		{"ipv6", "udp6", "[::1]:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := "0.0.0.0:0"
			if tc.local != "udp4" {
				local = "[::]:0"
			}
			conn, err := New(listen(t, tc.local, local))
			if err != nil {
				t.Fatal(err)
			}
			netw := "udp4"
			if tc.local == "udp6" {
				netw = "udp6"
			}
			peers := []*net.UDPConn{listen(t, netw, tc.peer), listen(t, netw, tc.peer)}
			const n = MaxBatch + 10 // more than one system call's worth
			conn.Begin()
			for i := 0; i < n; i++ {
				for _, p := range peers {
					dst := p.LocalAddr().(*net.UDPAddr).AddrPort()
					if _, err := conn.WriteToAddrPort(payload(i), dst); err != nil {
						t.Fatal(err)
					}
				}
			}
			conn.End()
			for _, p := range peers {
				receive(t, p, n)
			}
			batches, packets := conn.Stats()
			if packets != 2*n || batches < 3 || batches > 4 {
				t.Fatalf("sent %d packets in %d calls, want %d in 3", packets, batches, 2*n)
			}
		})
	}
}

func TestWriteOutsideScopeIsImmediate(t *testing.T) {
	conn, err := New(listen(t, "udp4", "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	peer := listen(t, "udp4", "127.0.0.1:0")
	if _, err := conn.WriteTo(payload(0), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	receive(t, peer, 1)
	if b, _ := conn.Stats(); b != 0 {
		t.Fatalf("%d batches for a write outside any scope", b)
	}
}

func TestConcurrentScopes(t *testing.T) {
	conn, err := New(listen(t, "udp4", "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 200
	peers := make([]*net.UDPConn, writers)
	for i := range peers {
		peers[i] = listen(t, "udp4", "127.0.0.1:0")
		SetBuffer(peers[i])
	}
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		go func(dst netip.AddrPort) {
			for i := 0; i < each; i++ {
				conn.Begin()
				_, _ = conn.WriteToAddrPort(payload(i), dst)
				conn.End()
			}
			done <- struct{}{}
		}(peers[w].LocalAddr().(*net.UDPAddr).AddrPort())
	}
	for w := 0; w < writers; w++ {
		<-done
	}
	for _, p := range peers {
		receive(t, p, each)
	}
}

// SetBuffer gives a test receiver room for a burst.
func SetBuffer(c *net.UDPConn) { _ = c.SetReadBuffer(4 << 20) }

// BenchmarkSend compares one sendmmsg per fan-out of 30 with 30 sendto calls.
func BenchmarkSend(b *testing.B) {
	for _, batched := range []bool{false, true} {
		b.Run(fmt.Sprintf("batched=%v", batched), func(b *testing.B) {
			conn, err := New(listen(b, "udp4", "127.0.0.1:0"))
			if err != nil {
				b.Fatal(err)
			}
			sink := listen(b, "udp4", "127.0.0.1:0")
			go func() {
				buf := make([]byte, 2048)
				for {
					if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
						return
					}
				}
			}()
			dst := sink.LocalAddr().(*net.UDPAddr).AddrPort()
			pkt := make([]byte, 1200)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += 30 {
				if batched {
					conn.Begin()
				}
				for j := 0; j < 30; j++ {
					_, _ = conn.WriteToAddrPort(pkt, dst)
				}
				if batched {
					conn.End()
				}
			}
		})
	}
}
