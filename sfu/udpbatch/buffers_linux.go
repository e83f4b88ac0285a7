//go:build linux

package udpbatch

import "golang.org/x/sys/unix"

// SetBuffers asks for size-byte receive and send buffers on the socket fd; as root past
// net.core.[rw]mem_max, otherwise capped there. Failures leave the kernel's default; size <= 0
// changes nothing.
func SetBuffers(fd, size int) {
	if size <= 0 {
		return
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, size)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, size)
	}
}
