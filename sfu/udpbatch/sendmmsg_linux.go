//go:build linux

package udpbatch

import (
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Generic segmentation offload (UDP_SEGMENT): packets of one batch bound for the same address
// leave as one message that the kernel cuts into datagrams of a given size, after a single trip
// through the socket, routing, netfilter and the device. Per datagram that costs a third of a
// message of its own (loopback, 1.2 KB packets, 4 to 6 per message). A video frame's packets
// are all of one size but the last, which may be shorter: what one message can carry.
const (
	// gsoMaxSegments stays within every kernel's limit (64 before Linux 6.11, then 128).
	gsoMaxSegments = 64
	// gsoMaxBytes keeps a message within one IP datagram's 64 KB.
	gsoMaxBytes = 65000
	// gsoMaxSegment keeps a segment and its headers within a 1500-byte path: the kernel refuses
	// a segment that would need IP fragmentation.
	gsoMaxSegment = 1400
	cmsgSpace     = 24 // unix.CmsgSpace(2) on 64-bit Linux
)

// sysState holds one batch's kernel message headers; reused, so a send allocates nothing.
type sysState struct {
	hdrs [MaxBatch]unix.Mmsghdr
	iovs [MaxBatch]unix.Iovec
	sa4  [MaxBatch]unix.RawSockaddrInet4
	sa6  [MaxBatch]unix.RawSockaddrInet6
	ctl  [MaxBatch][cmsgSpace]byte
	// first and segs give each message's datagrams: iovs[first[m]:first[m]+segs[m]].
	first, segs [MaxBatch]int16
	// next links each slot to the next one for the same address (-1: none), built per send
	// through the open-addressed table dest (slot+1 of the last slot seen per address; 0 empty).
	next [MaxBatch]int16
	used [MaxBatch]bool
	dest [2 * MaxBatch]int16
}

type sender struct {
	raw syscall.RawConn // the read socket, which sends when fd cannot
	v6  bool            // the socket is IPv6 (dual stack): IPv4 peers are addressed as mapped addresses
	fd  int             // the send-only socket (see Listen), or -1
	// gso says the kernel takes UDP_SEGMENT; cleared for good when a device refuses it (EIO:
	// no checksum offload on the way out).
	gso bool

	// The raw write on the read socket in progress (one goroutine sends at a time: Conn.sending).
	write func(fd uintptr) bool // s.sendmmsg, bound once so a send allocates nothing
	hdrs  *unix.Mmsghdr
	count int
	n     int
	errno syscall.Errno
	// The fallback in progress on the read socket: message m of st sent datagram by datagram.
	unbatch func(fd uintptr) bool
	st      *sysState
	m       int
}

func (s *sender) init(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	s.raw = raw
	s.fd = -1
	s.write = s.sendmmsg
	s.unbatch = s.sendApart
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
		s.v6 = true
	}
	_ = raw.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
		s.gso = err == nil
	})
	return nil
}

// close releases the send-only socket; the caller makes sure no send is in progress.
func (s *sender) close() {
	if s.fd >= 0 {
		_ = unix.Close(s.fd)
		s.fd = -1
	}
}

// GSO reports whether sends group packets for one address into one message.
func (c *Conn) GSO() bool { return c.sender.gso }

// destHash spreads addresses over st.dest.
func destHash(a netip.AddrPort) int {
	ip := a.Addr().As16()
	h := uint64(a.Port())
	for i := 8; i < 16; i++ {
		h = h*0x100000001b3 ^ uint64(ip[i])
	}
	h ^= uint64(ip[0])<<8 | uint64(ip[1])
	return int(h^h>>17) & (2*MaxBatch - 1)
}

// link fills st.next for b's slots.
func (st *sysState) link(b *batch) {
	clear(st.dest[:])
	for i := b.n - 1; i >= 0; i-- {
		st.next[i] = -1
		st.used[i] = false
		for h := destHash(b.addrs[i]); ; h = (h + 1) & (2*MaxBatch - 1) {
			j := st.dest[h] - 1
			if j < 0 {
				st.dest[h] = int16(i + 1)
				break
			}
			if b.addrs[j] == b.addrs[i] {
				st.next[i] = j
				st.dest[h] = int16(i + 1)
				break
			}
		}
	}
}

// build turns b's slots into messages and returns how many. With GSO, a message takes a slot and
// the following slots for its address as long as they have its length, the last of them possibly
// shorter; the rest of that address's slots make later messages, so each address still gets its
// packets in the order they were queued.
func (s *sender) build(b *batch) int {
	st := &b.sys
	gso := s.gso && b.n > 1
	if gso {
		st.link(b)
	}
	m, iv := 0, 0
	for i := 0; i < b.n; i++ {
		if gso && st.used[i] {
			continue
		}
		st.first[m] = int16(iv)
		st.iovs[iv].Base = &b.bufs[i][0]
		st.iovs[iv].SetLen(b.lens[i])
		iv++
		segs, size := 1, b.lens[i]
		if gso && size <= gsoMaxSegment {
			for j := st.next[i]; j >= 0 && segs < gsoMaxSegments && (segs+1)*size <= gsoMaxBytes; j = st.next[j] {
				l := b.lens[j]
				if l > size {
					break
				}
				st.used[j] = true
				st.iovs[iv].Base = &b.bufs[j][0]
				st.iovs[iv].SetLen(l)
				iv++
				segs++
				if l < size {
					break
				}
			}
		}
		st.segs[m] = int16(segs)
		h := &st.hdrs[m].Hdr
		h.Iov = &st.iovs[st.first[m]]
		h.SetIovlen(segs)
		s.address(st, m, b.addrs[i])
		if segs > 1 {
			c := &st.ctl[m]
			ch := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
			ch.Level = unix.SOL_UDP
			ch.Type = unix.UDP_SEGMENT
			ch.SetLen(unix.CmsgLen(2))
			*(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])) = uint16(size)
			h.Control = &c[0]
			h.SetControllen(cmsgSpace)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		m++
	}
	return m
}

// address sets message m's destination.
func (s *sender) address(st *sysState, m int, a netip.AddrPort) {
	h := &st.hdrs[m].Hdr
	if ip := a.Addr(); ip.Is4() && !s.v6 {
		sa := &st.sa4[m]
		sa.Family = unix.AF_INET
		setPort(&sa.Port, a.Port())
		sa.Addr = ip.As4()
		h.Name = (*byte)(unsafe.Pointer(sa))
		h.Namelen = unix.SizeofSockaddrInet4
	} else {
		sa := &st.sa6[m]
		sa.Family = unix.AF_INET6
		setPort(&sa.Port, a.Port())
		sa.Addr = ip.As16()
		sa.Scope_id = 0
		h.Name = (*byte)(unsafe.Pointer(sa))
		h.Namelen = unix.SizeofSockaddrInet6
	}
}

// refused handles the kernel refusing message m of a batch: a message of several segments is
// sent again datagram by datagram (a device without checksum offload, EIO, turns GSO off for
// good; a path too narrow for the segment size, EINVAL, refuses only that message). It reports
// whether it did so; otherwise the message is skipped.
func (s *sender) refused(st *sysState, m int, errno syscall.Errno) bool {
	if st.segs[m] < 2 || (errno != unix.EIO && errno != unix.EINVAL) {
		return false
	}
	if errno == unix.EIO {
		s.gso = false
	}
	return true
}

func (s *sender) send(c *Conn, b *batch) {
	st := &b.sys
	msgs := s.build(b)
	c.messages.Add(uint64(msgs))
	sent := 0
	for sent < msgs && s.fd >= 0 {
		// The send-only socket is outside Go's poller, so there is nothing to wait on: if its
		// buffer is full, the rest goes through the read socket, which can wait.
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&st.hdrs[sent])), uintptr(msgs-sent), 0, 0, 0)
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
			if s.refused(st, sent, errno) {
				s.st, s.m = st, sent
				s.sendApart(uintptr(s.fd))
			}
			sent++
			continue
		}
		break
	}
	for sent < msgs {
		s.hdrs, s.count = &st.hdrs[sent], msgs-sent
		err := s.raw.Write(s.write)
		s.hdrs = nil
		if err != nil {
			return // socket closed
		}
		if s.errno != 0 {
			if s.refused(st, sent, s.errno) {
				s.st, s.m = st, sent
				_ = s.raw.Write(s.unbatch)
			}
			sent++ // as above
			continue
		}
		sent += s.n
	}
	s.st = nil
}

// sendmmsg is the raw-write callback on the read socket: false means "buffer full, wait for the
// poller". Raw: the socket is non-blocking, so the call is bounded, and the scheduler need not hand
// this goroutine's P to another thread mid-batch.
func (s *sender) sendmmsg(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(s.hdrs)), uintptr(s.count), 0, 0, 0)
	s.n, s.errno = int(n), errno
	return errno != unix.EAGAIN
}

// sendApart sends message s.m of s.st one datagram per message, in place: its header is pointed
// at each segment in turn, without the segmentation request. A datagram the buffer has no room
// for is dropped. It never asks the poller to wait.
func (s *sender) sendApart(fd uintptr) bool {
	st := s.st
	h := &st.hdrs[s.m].Hdr
	first, segs := int(st.first[s.m]), int(st.segs[s.m])
	h.Control = nil
	h.SetControllen(0)
	h.SetIovlen(1)
	for k := first; k < first+segs; k++ {
		h.Iov = &st.iovs[k]
		for {
			_, _, errno := unix.RawSyscall6(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(h)), 0, 0, 0, 0)
			if errno != unix.EINTR {
				break
			}
		}
	}
	return true
}

// setPort stores a port in network byte order, whatever the machine's.
func setPort(dst *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(dst))
	b[0], b[1] = byte(port>>8), byte(port)
}
