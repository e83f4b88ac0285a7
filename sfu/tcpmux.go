package sfu

import (
	"net"
	"sync"

	"github.com/pion/ice/v4"
)

// tcpMux is pion's ICE-TCP mux, remembering the packet connections it hands each ICE agent (by
// the agent's local ufrag): a connection's own SRTP sender writes to them when ICE selects a TCP
// pair (see sfu/srtpout).
type tcpMux struct {
	ice.TCPMux
	mu    sync.Mutex
	conns map[string][]tcpConn
}

type tcpConn struct {
	pc    net.PacketConn
	local string // the local address the agent asked for
	ipv6  bool
}

func newTCPMux(m ice.TCPMux) *tcpMux { return &tcpMux{TCPMux: m, conns: map[string][]tcpConn{}} }

func (m *tcpMux) GetConnByUfrag(ufrag string, isIPv6 bool, local net.IP) (net.PacketConn, error) {
	pc, err := m.TCPMux.GetConnByUfrag(ufrag, isIPv6, local)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.conns[ufrag]
	for i, c := range list {
		if c.local == local.String() && c.ipv6 == isIPv6 {
			list[i].pc = pc
			return pc, nil
		}
	}
	m.conns[ufrag] = append(list, tcpConn{pc: pc, local: local.String(), ipv6: isIPv6})
	return pc, nil
}

func (m *tcpMux) RemoveConnByUfrag(ufrag string) {
	m.mu.Lock()
	delete(m.conns, ufrag)
	m.mu.Unlock()
	m.TCPMux.RemoveConnByUfrag(ufrag)
}

// conn returns the packet connection of ufrag's agent for a pair whose local candidate has the
// given address and family: the one made for that address, else (the address was rewritten, as
// with a configured node IP) the first of the family.
func (m *tcpMux) conn(ufrag, local string, ipv6 bool) net.PacketConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var first net.PacketConn
	for _, c := range m.conns[ufrag] {
		if c.ipv6 != ipv6 {
			continue
		}
		if c.local == local {
			return c.pc
		}
		if first == nil {
			first = c.pc
		}
	}
	return first
}
