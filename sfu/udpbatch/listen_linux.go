//go:build linux

package udpbatch

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listen opens the node's UDP port as two sockets sharing it (SO_REUSEPORT): one that Go's
// poller watches and every packet is read from, and one outside the poller that every packet is
// sent from. The split is for the kernel: the poller registers a socket for writability too, so
// on a socket that both reads and sends, each sent packet the device frees (sock_wfree) runs
// epoll's wake-up callback and wakes an idle thread in epoll_wait that then finds nothing to do,
// tens of thousands of times a second at meeting rates. A reuseport group spreads incoming packets
// over its sockets; a one-instruction classic BPF program sends them all to the first, the read
// socket. If the send socket cannot be made, the read socket sends too.
//
// buffer is the receive and send buffer size asked for (see sfu.SocketBuffer); 0 keeps the
// kernel's default.
func Listen(network, address string, buffer int) (*Conn, error) {
	if _, port, err := net.SplitHostPort(address); err == nil && port != "0" && port != "" {
		// SO_REUSEPORT would let a second process of the same user bind the port too and then
		// silently receive nothing: bind it once without the option first, so that a port in
		// use fails here as it would without it.
		probe, err := net.ListenPacket(network, address)
		if err != nil {
			return nil, err
		}
		_ = probe.Close()
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			SetBuffers(int(fd), buffer)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, address)
	if err != nil {
		return nil, err
	}
	c, err := wrap(pc, network)
	if err != nil {
		return nil, err
	}
	if fd, err := sendSocket(c.UDPConn, buffer); err == nil {
		c.sender.fd = fd
	}
	return c, nil
}

// sendSocket opens a non-blocking socket bound to uc's address in uc's reuseport group and steers
// all of the group's incoming packets to uc.
func sendSocket(uc *net.UDPConn, buffer int) (int, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, err
	}
	var (
		local  unix.Sockaddr
		v6only int
		serr   error
	)
	err = raw.Control(func(fd uintptr) {
		if local, serr = unix.Getsockname(int(fd)); serr != nil {
			return
		}
		if _, ok := local.(*unix.SockaddrInet6); ok {
			v6only, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
			if serr != nil {
				return
			}
		}
		// Program: "return 0", the index of the group's first socket, which is uc.
		prog := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF,
			&unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]})
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return -1, fmt.Errorf("udpbatch: read socket: %w", err)
	}
	family := unix.AF_INET
	if _, ok := local.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("udpbatch: send socket: %w", err)
	}
	if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err == nil && family == unix.AF_INET6 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
	}
	if err == nil {
		SetBuffers(fd, buffer)
		err = unix.Bind(fd, local)
	}
	if err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("udpbatch: send socket: %w", err)
	}
	return fd, nil
}
