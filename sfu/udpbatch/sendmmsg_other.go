//go:build !linux

package udpbatch

import "net"

type sysState struct{}

type sender struct{}

func (s *sender) init(*net.UDPConn) error { return nil }

func (s *sender) close() {}

// GSO reports whether sends group packets for one address into one message: not here.
func (c *Conn) GSO() bool { return false }

// send writes the packets one by one where sendmmsg does not exist.
func (s *sender) send(c *Conn, b *batch) {
	c.messages.Add(uint64(b.n))
	for i := 0; i < b.n; i++ {
		_, _ = c.UDPConn.WriteToUDPAddrPort(b.bufs[i][:b.lens[i]], b.addrs[i])
	}
}
