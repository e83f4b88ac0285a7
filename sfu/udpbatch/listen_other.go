//go:build !linux

package udpbatch

import "net"

// Listen opens a UDP socket and wraps it (buffer sizes are left to the system here).
func Listen(network, address string, _ int) (*Conn, error) {
	pc, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	return wrap(pc, network)
}
