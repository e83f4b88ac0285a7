package udpbatch

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
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
	// Room for a few batches to one peer: the tests read only after sending.
	if raw, err := c.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) { SetBuffers(int(fd), 4<<20) })
	}
	return c
}

// open makes a Conn either the way the node does (Listen: on Linux, a read socket and a send-only
// socket sharing the port) or over one socket (New).
func open(t testing.TB, network, addr string, viaListen bool) *Conn {
	t.Helper()
	var c *Conn
	var err error
	if viaListen {
		c, err = Listen(network, addr, 1<<20)
	} else {
		c, err = New(listen(t, network, addr))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// modes are the two ways open makes a Conn.
var modes = []struct {
	name   string
	listen bool
}{{"listen", true}, {"one socket", false}}

func payload(i int) []byte {
	return bytes.Repeat([]byte{byte(i)}, 100+i%1000)
}

// receive reads n packets and checks they are payload(0..n-1) in order.
func receive(t *testing.T, c *net.UDPConn, n int) {
	t.Helper()
	if err := expect(c, n, nil); err != nil {
		t.Fatal(err)
	}
}

// expect reads n packets and checks they are payload(0..n-1) in order; read, if set, hears of
// each packet read.
func expect(c *net.UDPConn, n int, read chan<- struct{}) error {
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := 0; i < n; i++ {
		m, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return fmt.Errorf("packet %d: %w", i, err)
		}
		if !bytes.Equal(buf[:m], payload(i)) {
			return fmt.Errorf("packet %d: got %d bytes starting %d", i, m, buf[0])
		}
		if read != nil {
			read <- struct{}{}
		}
	}
	return nil
}

func TestBatchReachesEveryPeer(t *testing.T) {
	for _, tc := range []struct{ name, local, peer string }{
		{"ipv4", "udp4", "127.0.0.1:0"},
		{"dual-stack to ipv4", "udp", "127.0.0.1:0"},
		{"ipv6", "udp6", "[::1]:0"},
	} {
		for _, m := range modes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				local := "0.0.0.0:0"
				if tc.local != "udp4" {
					local = "[::]:0"
				}
				conn := open(t, tc.local, local, m.listen)
				netw := "udp4"
				if tc.local == "udp6" {
					netw = "udp6"
				}
				peers := []*net.UDPConn{listen(t, netw, tc.peer), listen(t, netw, tc.peer)}
				const n = MaxBatch + 10 // more than one system call's worth
				conn.Begin(-1)
				for i := 0; i < n; i++ {
					for _, p := range peers {
						dst := p.LocalAddr().(*net.UDPAddr).AddrPort()
						if _, err := conn.WriteToAddrPort(payload(i), dst); err != nil {
							t.Fatal(err)
						}
					}
				}
				conn.End(-1)
				for _, p := range peers {
					receive(t, p, n)
				}
				batches, packets, _ := conn.Stats()
				if packets != 2*n || batches < 3 || batches > 4 {
					t.Fatalf("sent %d packets in %d calls, want %d in 3", packets, batches, 2*n)
				}
			})
		}
	}
}

func TestWriteOutsideScopeIsImmediate(t *testing.T) {
	conn := open(t, "udp4", "127.0.0.1:0", true)
	peer := listen(t, "udp4", "127.0.0.1:0")
	if _, err := conn.WriteTo(payload(0), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	// Nobody else is sending, so the write has left by the time it returns, alone.
	if b, n, _ := conn.Stats(); b != 1 || n != 1 {
		t.Fatalf("%d packets in %d calls for a write outside any scope, want 1 in 1", n, b)
	}
	receive(t, peer, 1)
}

func TestReadReportsSender(t *testing.T) {
	for _, tc := range []struct{ name, local, peerNet, peer string }{
		{"ipv4", "udp4", "udp4", "127.0.0.1:0"},
		{"dual-stack from ipv4", "udp", "udp4", "127.0.0.1:0"},
		{"ipv6", "udp6", "udp6", "[::1]:0"},
	} {
		for _, m := range modes {
			t.Run(tc.name+"/"+m.name, func(t *testing.T) {
				local := "127.0.0.1:0"
				if tc.local != "udp4" {
					local = "[::]:0"
				}
				if tc.local == "udp6" {
					local = "[::1]:0"
				}
				conn := open(t, tc.local, local, m.listen)
				peer := listen(t, tc.peerNet, tc.peer)
				dst := conn.LocalAddr().(*net.UDPAddr).AddrPort()
				if tc.peerNet == "udp4" {
					dst = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), dst.Port())
				} else {
					dst = netip.AddrPortFrom(netip.IPv6Loopback(), dst.Port())
				}
				for i := 0; i < 3; i++ {
					if _, err := peer.WriteToUDPAddrPort(payload(i), dst); err != nil {
						t.Fatal(err)
					}
				}
				buf := make([]byte, 2048)
				want := peer.LocalAddr().(*net.UDPAddr).AddrPort()
				for i := 0; i < 3; i++ {
					n, from, err := conn.ReadFromAddrPort(buf)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(buf[:n], payload(i)) {
						t.Fatalf("packet %d: got %d bytes starting %d", i, n, buf[0])
					}
					if from.Addr().Unmap() != want.Addr() || from.Port() != want.Port() {
						t.Fatalf("packet %d from %v, want %v", i, from, want)
					}
				}
			})
		}
	}
}

func TestReadDeadlineAndClose(t *testing.T) {
	conn := open(t, "udp4", "127.0.0.1:0", true)
	buf := make([]byte, 2048)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := conn.ReadFromAddrPort(buf); !os.IsTimeout(err) {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	_ = conn.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, _, err := conn.ReadFromAddrPort(buf)
		done <- err
	}()
	_ = conn.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on a closed socket: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked read did not end when the socket closed")
	}
}

// TestReadAllocatesNothing guards the raw read path: it runs once per packet received.
func TestReadAllocatesNothing(t *testing.T) {
	conn := open(t, "udp4", "127.0.0.1:0", true)
	peer := listen(t, "udp4", "127.0.0.1:0")
	dst := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	buf, pkt := make([]byte, 2048), payload(1)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = peer.WriteToUDPAddrPort(pkt, dst)
		if _, _, err := conn.ReadFromAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per read", allocs)
	}
}

// TestConcurrentScopes runs writers at once, two on lanes of their own and two on the shared
// batch: every peer gets its packets in order (run with -race).
func TestConcurrentScopes(t *testing.T) {
	conn := open(t, "udp4", "127.0.0.1:0", true)
	conn.SetLanes(2)
	// Each scope writes more than a batch holds, so writers keep filling batches while
	// another is being sent.
	const writers, each, perScope = 4, 400, MaxBatch + 8
	peers := make([]*net.UDPConn, writers)
	received := make(chan error, writers)
	done := make(chan struct{})
	for w := range peers {
		peers[w] = listen(t, "udp4", "127.0.0.1:0")
		// Each writer waits for its reader to take a scope's packets before writing the next, so
		// that a socket buffer never overflows (under the race detector readers are slow).
		read := make(chan struct{}, each)
		go func(c *net.UDPConn) { received <- expect(c, each, read) }(peers[w])
		lane := -1
		if w < 2 {
			lane = w
			conn.Route(peers[w].LocalAddr().(*net.UDPAddr).AddrPort(), lane)
		}
		go func(dst netip.AddrPort) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < each; {
				conn.Begin(lane)
				j := 0
				for ; j < perScope && i < each; j++ {
					_, _ = conn.WriteToAddrPort(payload(i), dst)
					i++
				}
				conn.End(lane)
				for ; j > 0; j-- {
					select {
					case <-read:
					case <-time.After(5 * time.Second):
						return // the reader reports what is missing
					}
				}
			}
		}(peers[w].LocalAddr().(*net.UDPAddr).AddrPort())
	}
	for w := 0; w < writers; w++ {
		<-done
	}
	for range peers {
		if err := <-received; err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkSend compares one sendmmsg per fan-out of 30 with 30 sendto calls.
func BenchmarkSend(b *testing.B) {
	for _, batched := range []bool{false, true} {
		b.Run(fmt.Sprintf("batched=%v", batched), func(b *testing.B) {
			conn := open(b, "udp4", "127.0.0.1:0", true)
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
					conn.Begin(-1)
				}
				for j := 0; j < 30; j++ {
					_, _ = conn.WriteToAddrPort(pkt, dst)
				}
				if batched {
					conn.End(-1)
				}
			}
		})
	}
}

// TestLaneQueuesItsRoutedAddresses: inside a lane's scope, what is written to an address routed
// to it fills the lane's own batch, not the shared one; the rest goes the shared way; IPv4 peers
// match whether written to as IPv4 or IPv4-mapped IPv6; a lane's batch that fills up leaves early
// and order holds.
func TestLaneQueuesItsRoutedAddresses(t *testing.T) {
	conn := open(t, "udp", "[::]:0", true)
	conn.SetLanes(2)
	routed, other := listen(t, "udp4", "127.0.0.1:0"), listen(t, "udp4", "127.0.0.1:0")
	dst := routed.LocalAddr().(*net.UDPAddr).AddrPort()
	conn.Route(dst, 1)
	if conn.Routes() != 1 {
		t.Fatalf("%d routes, want 1", conn.Routes())
	}
	mapped := netip.AddrPortFrom(netip.AddrFrom16(dst.Addr().As16()), dst.Port())
	conn.Begin(1)
	for i, to := range []netip.AddrPort{dst, mapped} {
		if _, err := conn.WriteToAddrPort(payload(i), to); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.WriteToAddrPort(payload(0), other.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	if n := conn.lanes[1].cur.n; n != 2 {
		t.Fatalf("lane 1 holds %d packets, want the 2 written to its address", n)
	}
	if n := conn.cur.n; n != 1 {
		t.Fatalf("shared batch holds %d packets, want the 1 written elsewhere", n)
	}
	// Past a batch's worth, the lane's full batch leaves while the scope goes on.
	const n = 2*MaxBatch + 5
	for i := 2; i < n; i++ {
		if _, err := conn.WriteToAddrPort(payload(i), dst); err != nil {
			t.Fatal(err)
		}
	}
	conn.End(1)
	receive(t, routed, n)
	receive(t, other, 1)
	if conn.lanes[1].cur.n != 0 || conn.cur.n != 0 {
		t.Fatal("End left packets queued")
	}
	// Outside the lane's scope, and once unrouted, writes take the shared way.
	conn.Begin(0)
	_, _ = conn.WriteToAddrPort(payload(0), dst)
	if conn.lanes[1].cur.n != 0 || conn.cur.n != 1 {
		t.Fatal("a write to lane 1's address outside its scope was not queued in the shared batch")
	}
	conn.End(0)
	conn.Unroute(dst)
	conn.Begin(1)
	_, _ = conn.WriteToAddrPort(payload(1), dst)
	if conn.lanes[1].cur.n != 0 {
		t.Fatal("a write to an unrouted address went to the lane")
	}
	conn.End(1)
	buf := make([]byte, 2048)
	for i := 0; i < 2; i++ {
		if m, _, err := routed.ReadFromUDPAddrPort(buf); err != nil || !bytes.Equal(buf[:m], payload(i)) {
			t.Fatalf("after the lane: packet %d missing or wrong (%v)", i, err)
		}
	}
	// Closed: a write to a routed address in scope is refused like any other.
	conn.Route(dst, 1)
	_ = conn.Close()
	conn.Begin(1)
	if _, err := conn.WriteToAddrPort(payload(0), dst); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v, want net.ErrClosed", err)
	}
	conn.End(1)
}

// TestWriteAllocatesNothing guards both send paths (the send-only socket and the read socket's
// raw write): a write runs once per packet per subscriber.
func TestWriteAllocatesNothing(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			conn := open(t, "udp4", "127.0.0.1:0", m.listen)
			peer := listen(t, "udp4", "127.0.0.1:0")
			dst := peer.LocalAddr().(*net.UDPAddr).AddrPort()
			pkt := payload(1)
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := conn.WriteToAddrPort(pkt, dst); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Fatalf("%.1f allocations per write", allocs)
			}
			// And through a lane, in its scope.
			conn.SetLanes(1)
			conn.Route(dst, 0)
			allocs = testing.AllocsPerRun(100, func() {
				conn.Begin(0)
				if _, err := conn.WriteToAddrPort(pkt, dst); err != nil {
					t.Fatal(err)
				}
				conn.End(0)
			})
			if allocs != 0 {
				t.Fatalf("%.1f allocations per lane write", allocs)
			}
		})
	}
}
