//go:build linux

package udpbatch

import (
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysState holds one batch's kernel message headers; reused, so a send allocates nothing.
type sysState struct {
	hdrs [MaxBatch]unix.Mmsghdr
	iovs [MaxBatch]unix.Iovec
	sa4  [MaxBatch]unix.RawSockaddrInet4
	sa6  [MaxBatch]unix.RawSockaddrInet6
}

type sender struct {
	raw syscall.RawConn // the read socket, which sends when fd cannot
	v6  bool            // the socket is IPv6 (dual stack): IPv4 peers are addressed as mapped addresses
	fd  int             // the send-only socket (see Listen), or -1

	// The raw write on the read socket in progress (one goroutine sends at a time: Conn.sending).
	write func(fd uintptr) bool // s.sendmmsg, bound once so a send allocates nothing
	hdrs  *unix.Mmsghdr
	count int
	n     int
	errno syscall.Errno
}

func (s *sender) init(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	s.raw = raw
	s.fd = -1
	s.write = s.sendmmsg
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
		s.v6 = true
	}
	return nil
}

// close releases the send-only socket; the caller makes sure no send is in progress.
func (s *sender) close() {
	if s.fd >= 0 {
		_ = unix.Close(s.fd)
		s.fd = -1
	}
}

func (s *sender) send(c *Conn, b *batch) {
	st := &b.sys
	for i := 0; i < b.n; i++ {
		h := &st.hdrs[i].Hdr
		st.iovs[i].Base = &b.bufs[i][0]
		st.iovs[i].SetLen(b.lens[i])
		h.Iov = &st.iovs[i]
		h.SetIovlen(1)
		a := b.addrs[i]
		if ip := a.Addr(); ip.Is4() && !s.v6 {
			sa := &st.sa4[i]
			sa.Family = unix.AF_INET
			setPort(&sa.Port, a.Port())
			sa.Addr = ip.As4()
			h.Name = (*byte)(unsafe.Pointer(sa))
			h.Namelen = unix.SizeofSockaddrInet4
		} else {
			sa := &st.sa6[i]
			sa.Family = unix.AF_INET6
			setPort(&sa.Port, a.Port())
			sa.Addr = ip.As16()
			sa.Scope_id = 0
			h.Name = (*byte)(unsafe.Pointer(sa))
			h.Namelen = unix.SizeofSockaddrInet6
		}
	}
	sent := 0
	for sent < b.n && s.fd >= 0 {
		// The send-only socket is outside Go's poller, so there is nothing to wait on: if its
		// buffer is full, the rest goes through the read socket, which can wait.
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&st.hdrs[sent])), uintptr(b.n-sent), 0, 0, 0)
		switch errno {
		case 0:
			sent += int(n)
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			c.overflow.Add(1)
		default:
			// A message the kernel refuses (an unreachable peer, say) is skipped; UDP
			// promises nothing more, and the rest of the batch still goes.
			sent++
			continue
		}
		break
	}
	for sent < b.n {
		s.hdrs, s.count = &st.hdrs[sent], b.n-sent
		err := s.raw.Write(s.write)
		s.hdrs = nil
		if err != nil {
			return // socket closed
		}
		if s.errno != 0 {
			sent++ // as above
			continue
		}
		sent += s.n
	}
}

// sendmmsg is the raw-write callback on the read socket: false means "buffer full, wait for the
// poller". Raw: the socket is non-blocking, so the call is bounded, and the scheduler need not hand
// this goroutine's P to another thread mid-batch.
func (s *sender) sendmmsg(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(s.hdrs)), uintptr(s.count), 0, 0, 0)
	s.n, s.errno = int(n), errno
	return errno != unix.EAGAIN
}

// setPort stores a port in network byte order, whatever the machine's.
func setPort(dst *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}
