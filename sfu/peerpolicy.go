package sfu

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// peerPolicy decides which remote addresses ICE may send to: a remote candidate is an address a
// client asks the node to probe, so a public node must refuse those that would turn it into a
// scanner of its own networks.
type peerPolicy struct {
	// allowed (rtc.allowed_peers), when set, is the only thing consulted.
	allowed []*net.IPNet
	// loopbackOnly: the sockets are bound to loopback and can reach nothing else.
	loopbackOnly bool
	// private: RFC 1918, CGNAT and ULA peers are accepted.
	private bool
	// own, when set, accepts this machine's own addresses and loopback (dev mode).
	own *ownAddrs
	// relays are the embedded TURN server's relay addresses.
	relays []net.IP
}

func newPeerPolicy(cfg Config, interfaceAddrs func() ([]net.Addr, error)) *peerPolicy {
	p := &peerPolicy{allowed: cfg.AllowedPeers, relays: cfg.RelayPeers}
	if ip := net.ParseIP(cfg.BindAddress); ip != nil && ip.IsLoopback() {
		p.loopbackOnly = true
	}
	if cfg.AllowSameMachinePeers {
		p.own = &ownAddrs{list: interfaceAddrs}
	}
	if cfg.AllowPrivatePeers != nil {
		p.private = *cfg.AllowPrivatePeers
	} else {
		p.private = !advertisesPublicIPv4(cfg, interfaceAddrs)
	}
	return p
}

// advertisesPublicIPv4 reports whether the node's own address, as clients see it, is a public
// IPv4 one: rtc.node_ip if set, else the bound address, else any interface address it offers.
// A node clients reach on a private address serves a private network and must take its peers;
// one with a public address serves the internet, and private peers are then only a way to aim it
// at the operator's internal networks.
func advertisesPublicIPv4(cfg Config, interfaceAddrs func() ([]net.Addr, error)) bool {
	for _, s := range []string{cfg.NodeIP, cfg.BindAddress} {
		if ip := net.ParseIP(s); ip != nil && !ip.IsUnspecified() {
			return ip.To4() != nil && isPublic(ip)
		}
	}
	addrs, err := interfaceAddrs()
	if err != nil {
		return true // unknown: the safe answer
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		if len(cfg.LocalIncludes) > 0 && !inAny(ipn.IP, cfg.LocalIncludes) || inAny(ipn.IP, cfg.LocalExcludes) {
			continue
		}
		if isPublic(ipn.IP) {
			return true
		}
	}
	return false
}

// allow reports whether ICE may exchange packets with ip.
func (p *peerPolicy) allow(ip net.IP) bool {
	switch {
	case ip == nil || ip.IsUnspecified() || ip.IsMulticast() || isReserved(ip):
		return false
	case p.isRelay(ip):
		return true
	case len(p.allowed) > 0:
		return inAny(ip, p.allowed)
	case p.own != nil && (ip.IsLoopback() || p.own.has(ip)):
		return true
	case p.loopbackOnly:
		return ip.IsLoopback()
	case ip.IsLoopback() || ip.IsLinkLocalUnicast():
		return false
	case isPrivate(ip):
		return p.private
	}
	return true
}

func (p *peerPolicy) isRelay(ip net.IP) bool {
	for _, r := range p.relays {
		if r.Equal(ip) {
			return true
		}
	}
	return false
}

var (
	cgnat       = mustCIDR("100.64.0.0/10")
	thisNetwork = mustCIDR("0.0.0.0/8")
	// reservedV4 holds 240.0.0.0/4, the limited broadcast address with it.
	reservedV4 = mustCIDR("240.0.0.0/4")
)

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// isPrivate: RFC 1918, ULA (fc00::/7) and carrier-grade NAT space.
func isPrivate(ip net.IP) bool { return ip.IsPrivate() || cgnat.Contains(ip) }

// isReserved: addresses no peer can have.
func isReserved(ip net.IP) bool { return thisNetwork.Contains(ip) || reservedV4.Contains(ip) }

func isPublic(ip net.IP) bool {
	return ip.IsGlobalUnicast() && !isPrivate(ip) && !isReserved(ip)
}

// ownAddrs are this machine's interface addresses, listed again at most once a second when an
// address is not among them (an interface that came up since).
type ownAddrs struct {
	list func() ([]net.Addr, error)

	mu      sync.Mutex
	set     map[netip.Addr]bool
	fetched time.Time
}

const ownAddrsRefresh = time.Second

func (o *ownAddrs) has(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.set[a] {
		return true
	}
	if o.set != nil && time.Since(o.fetched) < ownAddrsRefresh {
		return false
	}
	o.fetched = time.Now()
	o.set = map[netip.Addr]bool{}
	addrs, _ := o.list()
	for _, x := range addrs {
		if ipn, ok := x.(*net.IPNet); ok {
			if b, ok := netip.AddrFromSlice(ipn.IP); ok {
				o.set[b.Unmap()] = true
			}
		}
	}
	return o.set[a]
}
