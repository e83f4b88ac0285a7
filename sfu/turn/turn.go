// Package turn runs Hop's embedded TURN server, so clients behind firewalls that block direct UDP
// still reach the SFU. It relays only to the node's own media addresses: it is not an open relay.
package turn

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// Config configures the TURN server.
type Config struct {
	// BindAddress and UDPPort are where TURN listens (0 picks a free port).
	BindAddress string
	UDPPort     int
	// TCPPort, when positive, serves TURN over TCP there too.
	TCPPort int
	// Streams are further listeners TURN is served on over a stream (TURN over TLS on the HTTPS
	// port, handed over by the node's TLS dispatcher). The server closes them.
	Streams []net.Listener
	// RelayPortMin and RelayPortMax bound the relay sockets' ports (both 0: any free port).
	RelayPortMin, RelayPortMax uint16
	// RelayIP is the address relayed candidates get; clients must reach it.
	RelayIP net.IP
	// Realm names the server in TURN authentication.
	Realm string
	// AllowedPeers are the only addresses relayed to: the SFU's own. Nil allows the relay IP only.
	AllowedPeers []net.IP
	// CredentialTTL is how long generated credentials are valid.
	CredentialTTL time.Duration
	// SetBuffers, if set, is applied to every socket the server opens (listener and relays).
	SetBuffers func(net.PacketConn)
	Logger     logging.LoggerFactory
}

// Server is a running TURN server.
type Server struct {
	cfg    Config
	secret string
	conn   net.PacketConn
	tcp    net.Listener
	srv    *turn.Server
	stats  Stats
}

// Stats counts what clients did with the server: which transports they needed tells an operator
// how many of them sit behind firewalls that block UDP.
type Stats struct {
	AllocationsUDP, AllocationsTCP, AllocationsTLS atomic.Uint64
	// Active is the allocations open now.
	Active atomic.Int64
	// AuthFailures counts requests refused for bad or expired credentials.
	AuthFailures atomic.Uint64
}

// Start opens the TURN socket and starts serving.
func Start(cfg Config) (*Server, error) {
	if cfg.RelayIP == nil {
		return nil, fmt.Errorf("turn: relay IP is required")
	}
	if cfg.Realm == "" {
		cfg.Realm = "hop"
	}
	if cfg.CredentialTTL == 0 {
		cfg.CredentialTTL = 12 * time.Hour
	}
	// A per-process secret: credentials are handed out by this node in its JoinResponses.
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("turn secret: %w", err)
	}
	s := &Server{cfg: cfg, secret: hex.EncodeToString(b)}
	events := turn.EventHandler{
		OnAuth: func(_, _ net.Addr, _, _, _, _ string, ok bool) {
			if !ok {
				s.stats.AuthFailures.Add(1)
			}
		},
		OnAllocationCreated: func(_, dst net.Addr, _, _, _ string, _ net.Addr, _ int) {
			s.stats.Active.Add(1)
			s.transportCounter(dst).Add(1)
		},
		OnAllocationDeleted: func(_, _ net.Addr, _, _, _ string) { s.stats.Active.Add(-1) },
	}
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.UDPPort)))
	if err != nil {
		return nil, fmt.Errorf("turn: listen udp %d: %w", cfg.UDPPort, err)
	}
	s.conn = conn
	if cfg.SetBuffers != nil {
		cfg.SetBuffers(conn)
	}
	allowed := cfg.AllowedPeers
	if len(allowed) == 0 {
		allowed = []net.IP{cfg.RelayIP}
	}
	permit := func(_ net.Addr, peer net.IP) bool {
		for _, ip := range allowed {
			if ip.Equal(peer) {
				return true
			}
		}
		return false
	}
	relays := s.relayGenerator()
	streams := cfg.Streams
	if cfg.TCPPort > 0 {
		ln, err := net.Listen("tcp4", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.TCPPort)))
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("turn: listen tcp %d: %w", cfg.TCPPort, err)
		}
		s.tcp = ln
		streams = append([]net.Listener{ln}, streams...)
	}
	var listeners []turn.ListenerConfig
	for _, ln := range streams {
		listeners = append(listeners, turn.ListenerConfig{Listener: ln, RelayAddressGenerator: relays, PermissionHandler: permit})
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:             cfg.Realm,
		LoggerFactory:     cfg.Logger,
		AuthHandler:       turn.LongTermTURNRESTAuthHandler(s.secret, nil),
		EventHandler:      events,
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: conn, RelayAddressGenerator: relays, PermissionHandler: permit}},
		ListenerConfigs:   listeners,
	})
	if err != nil {
		_ = conn.Close()
		for _, ln := range streams {
			_ = ln.Close()
		}
		return nil, fmt.Errorf("turn: %w", err)
	}
	s.srv = srv
	return s, nil
}

// relayGenerator makes the relay sockets: on the relay IP, in the port range if one is set. Every
// transport's allocations relay over UDP to the SFU.
func (s *Server) relayGenerator() turn.RelayAddressGenerator {
	bind := s.cfg.BindAddress
	if bind == "" {
		bind = "0.0.0.0"
	}
	if s.cfg.RelayPortMin != 0 || s.cfg.RelayPortMax != 0 {
		return &bufferedRelays{
			gen: &turn.RelayAddressGeneratorPortRange{RelayAddress: s.cfg.RelayIP, Address: bind, MinPort: s.cfg.RelayPortMin, MaxPort: s.cfg.RelayPortMax},
			set: s.cfg.SetBuffers,
		}
	}
	return &bufferedRelays{gen: &turn.RelayAddressGeneratorStatic{RelayAddress: s.cfg.RelayIP, Address: bind}, set: s.cfg.SetBuffers}
}

// transportCounter is the allocation counter for the listener a client reached at dst: the UDP
// port, the TCP port, or else a TLS stream.
func (s *Server) transportCounter(dst net.Addr) *atomic.Uint64 {
	switch a := dst.(type) {
	case *net.UDPAddr:
		return &s.stats.AllocationsUDP
	case *net.TCPAddr:
		if s.tcp != nil && a.Port == s.tcp.Addr().(*net.TCPAddr).Port {
			return &s.stats.AllocationsTCP
		}
	}
	return &s.stats.AllocationsTLS
}

// Stats are the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Addr is the TURN listener's address.
func (s *Server) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// TCPAddr is the TURN-over-TCP listener's address (nil when off).
func (s *Server) TCPAddr() *net.TCPAddr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr().(*net.TCPAddr)
}

// Credentials returns time-limited credentials for one user (RFC 8489 TURN REST style).
func (s *Server) Credentials(user string) (username, password string, err error) {
	return turn.GenerateLongTermTURNRESTCredentials(s.secret, user, s.cfg.CredentialTTL)
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// bufferedRelays sizes the buffers of every relay socket it allocates, and refuses TCP
// allocations (RFC 6062): the SFU takes media over UDP only.
type bufferedRelays struct {
	gen turn.RelayAddressGenerator
	set func(net.PacketConn)
}

var errNoTCPRelay = errors.New("turn: TCP relays are not offered")

func (b *bufferedRelays) Validate() error { return b.gen.Validate() }

func (b *bufferedRelays) AllocatePacketConn(cfg turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	c, a, err := b.gen.AllocatePacketConn(cfg)
	if err == nil && b.set != nil {
		b.set(c)
	}
	return c, a, err
}

func (b *bufferedRelays) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

func (b *bufferedRelays) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCPRelay
}
