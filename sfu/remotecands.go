package sfu

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
)

// MaxRemoteCandidates bounds the remote ICE candidates of one connection in one ICE generation:
// the distinct ones the client signals (in its descriptions and trickled), and, separately, the
// peer-reflexive ones learned from its checks. Each one is a destination the node probes, so an
// unbounded list makes the node an amplifier aimed at whatever addresses a client names.
const MaxRemoteCandidates = 48

// remoteCands holds a connection's remote candidates of the current ICE generation against the
// address policy and MaxRemoteCandidates. Its filter runs on pion's ICE goroutine, the rest under
// the Transport's lock; mu guards both.
type remoteCands struct {
	policy *peerPolicy
	log    *slog.Logger

	mu    sync.Mutex
	ufrag string
	// keys are the signalled candidates taken (transport, address, port, component); ips their
	// addresses, which pion's filter then lets through without counting them as learned.
	keys    map[string]bool
	ips     map[netip.Addr]bool
	learned int
	// Each kind of refusal is logged once per connection.
	loggedOver, loggedLearned, loggedPolicy bool
}

func newRemoteCands(policy *peerPolicy, log *slog.Logger) *remoteCands {
	return &remoteCands{policy: policy, log: log, keys: map[string]bool{}, ips: map[netip.Addr]bool{}}
}

// generation starts a new ICE generation when the remote ufrag changes (an ICE restart): pion
// forgets the old candidates then, and so does the budget.
func (r *remoteCands) generation(ufrag string) {
	if ufrag == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ufrag != "" && r.ufrag != ufrag {
		clear(r.keys)
		clear(r.ips)
		r.learned = 0
	}
	r.ufrag = ufrag
}

// take reports whether a signalled candidate (the text after "candidate:", or with it) may go to
// pion: one already taken always may, a new one if the policy allows its address and the budget
// has room.
func (r *remoteCands) take(cand string) bool {
	cand = strings.TrimPrefix(strings.TrimPrefix(cand, "a="), "candidate:")
	// foundation component transport priority address port typ type ...
	f := strings.Fields(cand)
	if len(f) < 6 {
		return true // pion refuses it
	}
	key := strings.ToLower(f[2]) + " " + f[4] + " " + f[5] + " " + f[1]
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys[key] {
		return true
	}
	var addr netip.Addr
	if ip := net.ParseIP(f[4]); ip != nil {
		if !r.policy.allow(ip) {
			if !r.loggedPolicy {
				r.loggedPolicy = true
				r.log.Debug("remote ICE candidate refused by the peer address policy", "address", f[4])
			}
			return false
		}
		addr, _ = netip.AddrFromSlice(ip)
		addr = addr.Unmap()
	}
	if len(r.keys) >= MaxRemoteCandidates {
		if !r.loggedOver {
			r.loggedOver = true
			r.log.Warn("remote ICE candidates over the limit dropped", "limit", MaxRemoteCandidates)
		}
		return false
	}
	r.keys[key] = true
	if addr.IsValid() {
		r.ips[addr] = true
	}
	return true
}

// limitSDP removes from a remote description the candidate lines take refuses, before pion
// parses it: pion's work grows with every candidate listed.
func (r *remoteCands) limitSDP(sdp string) string {
	const prefix = "a=candidate:"
	if !strings.Contains(sdp, prefix) {
		return sdp
	}
	var b strings.Builder
	dropped := false
	rest := sdp
	for rest != "" {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = ""
		}
		if strings.HasPrefix(line, prefix) && !r.take(strings.TrimRight(line, "\r\n")) {
			if !dropped {
				dropped = true
				b.Grow(len(sdp))
				b.WriteString(sdp[:len(sdp)-len(rest)-len(line)])
			}
			continue
		}
		if dropped {
			b.WriteString(line)
		}
	}
	if !dropped {
		return sdp
	}
	return b.String()
}

// filter is pion's remote IP filter for the connection: it sees signalled candidates again
// (taken already) and peer-reflexive ones, learned from checks arriving from an address never
// signalled, which get a budget of their own.
func (r *remoteCands) filter(ip net.IP) bool {
	if !r.policy.allow(ip) {
		return false
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ips[addr.Unmap()] {
		return true
	}
	if r.learned >= MaxRemoteCandidates {
		if !r.loggedLearned {
			r.loggedLearned = true
			r.log.Warn("peer-reflexive ICE candidates over the limit ignored", "limit", MaxRemoteCandidates)
		}
		return false
	}
	r.learned++
	return true
}

// ufragOf is the first ice-ufrag of a description.
func ufragOf(sdp string) string {
	const prefix = "a=ice-ufrag:"
	i := strings.Index(sdp, prefix)
	if i < 0 {
		return ""
	}
	s := sdp[i+len(prefix):]
	if j := strings.IndexAny(s, "\r\n"); j >= 0 {
		s = s[:j]
	}
	return strings.TrimSpace(s)
}
