//go:build !linux

package udpbatch

import (
	"net"
	"net/netip"
)

type reader struct{}

func (r *reader) init(*net.UDPConn) error { return nil }

func (r *reader) read(c *Conn, p []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(p)
}
