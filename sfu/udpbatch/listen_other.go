//go:build !linux

package udpbatch

import (
	"fmt"
	"net"
)

// Listen opens a UDP socket and wraps it (buffer sizes are left to the system here).
func Listen(network, address string, _ int) (*Conn, error) {
	pc, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("udpbatch: %s is not a UDP network", network)
	}
	c, err := New(uc)
	if err != nil {
		_ = uc.Close()
		return nil, err
	}
	return c, nil
}
