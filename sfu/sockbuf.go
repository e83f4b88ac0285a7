package sfu

import (
	"net"

	"github.com/hop-meet/hop/sfu/udpbatch"
)

// SocketBuffer is the send and receive buffer size asked for on media sockets: a keyframe of a
// 1080p stream fanned out to many subscribers is a burst of hundreds of packets, and the kernel's
// default (about 200 KB) drops them while a reader is briefly descheduled.
const SocketBuffer = 4 << 20

// SetSocketBuffers enlarges a UDP socket's buffers. As root it may exceed net.core.rmem_max and
// wmem_max; otherwise the kernel caps the size at those limits. Failures are not fatal.
func SetSocketBuffers(c net.PacketConn, size int) {
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) { udpbatch.SetBuffers(int(fd), size) })
}
