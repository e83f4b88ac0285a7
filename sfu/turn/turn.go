// Package turn runs Hop's embedded TURN server, so clients behind firewalls that block direct UDP
// still reach the SFU. It relays only to the node's own media addresses: it is not an open relay.
package turn

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// Config configures the TURN server.
type Config struct {
	// BindAddress and UDPPort are where TURN listens (0 picks a free port).
	BindAddress string
	UDPPort     int
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
	srv    *turn.Server
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
	relayBind := cfg.BindAddress
	if relayBind == "" {
		relayBind = "0.0.0.0"
	}
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         cfg.Realm,
		LoggerFactory: cfg.Logger,
		AuthHandler:   turn.LongTermTURNRESTAuthHandler(s.secret, nil),
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: conn,
			RelayAddressGenerator: &bufferedRelays{
				RelayAddressGeneratorStatic: turn.RelayAddressGeneratorStatic{RelayAddress: cfg.RelayIP, Address: relayBind},
				set:                         cfg.SetBuffers,
			},
			PermissionHandler: func(_ net.Addr, peer net.IP) bool {
				for _, ip := range allowed {
					if ip.Equal(peer) {
						return true
					}
				}
				return false
			},
		}},
	})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("turn: %w", err)
	}
	s.srv = srv
	return s, nil
}

// Addr is the TURN listener's address.
func (s *Server) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// Credentials returns time-limited credentials for one user (RFC 8489 TURN REST style).
func (s *Server) Credentials(user string) (username, password string, err error) {
	return turn.GenerateLongTermTURNRESTCredentials(s.secret, user, s.cfg.CredentialTTL)
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// bufferedRelays sizes the buffers of every relay socket it allocates.
type bufferedRelays struct {
	turn.RelayAddressGeneratorStatic
	set func(net.PacketConn)
}

func (b *bufferedRelays) AllocatePacketConn(cfg turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	c, a, err := b.RelayAddressGeneratorStatic.AllocatePacketConn(cfg)
	if err == nil && b.set != nil {
		b.set(c)
	}
	return c, a, err
}
