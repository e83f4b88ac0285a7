//go:build !linux

package udpbatch

import (
	"net"
	"net/netip"
)

type reader struct {
	idle func() // see Conn.SetTap
}

func (r *reader) init(*net.UDPConn) error { return nil }

// read cannot tell an empty socket from a full one here: idle runs before every read.
func (r *reader) read(c *Conn, p []byte) (int, netip.AddrPort, error) {
	if r.idle != nil {
		r.idle()
	}
	return c.UDPConn.ReadFromUDPAddrPort(p)
}
