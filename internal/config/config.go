// Package config holds a node's configuration: defaults, the YAML file, flags, and validation.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Dev keys match LiveKit's dev mode so that LiveKit tools' dev settings work against Hop.
const (
	DevAPIKey    = "devkey"
	DevAPISecret = "secret"
)

// Config is everything a node needs to start.
type Config struct {
	// BindAddress is where HTTP and websocket signalling listen.
	BindAddress string `yaml:"bind_address"`
	Port        int    `yaml:"port"`
	LogLevel    string `yaml:"log_level"`
	// AdminAddress serves /metrics and /debug/pprof, never on the public port ("off": nowhere).
	AdminAddress string `yaml:"admin_address"`
	// Keys maps API keys to their secrets; tokens must be signed by one of them.
	Keys map[string]string `yaml:"keys"`
	// Development enables dev defaults (dev keys, loopback candidates).
	Development bool `yaml:"development"`
	// DevUnsafeBind lets a development node listen beyond loopback: anyone who reaches it can then
	// mint tokens at /api/dev-token.
	DevUnsafeBind bool `yaml:"dev_unsafe_bind"`
	// TLS, when it names a certificate source, makes the node serve HTTPS and wss.
	TLS TLSConfig `yaml:"tls"`

	RTC    RTCConfig    `yaml:"rtc"`
	TURN   TURNConfig   `yaml:"turn"`
	Signal SignalConfig `yaml:"signal"`
	Room   RoomConfig   `yaml:"room"`
	// Limits bounds what one client may send.
	Limits LimitsConfig `yaml:"limits"`
	// HTTP bounds how long one HTTP connection may hold the node.
	HTTP HTTPConfig `yaml:"http"`
	// Procs is "auto" (the default): the node runs on as many processors as its load needs, up to
	// GOMAXPROCS (all the machine's, or the container's share, unless set), one while one is
	// enough (see internal/procs); or "fixed": always GOMAXPROCS.
	Procs string `yaml:"procs"`
	// Recorder configures recordings (the Egress API).
	Recorder RecorderConfig `yaml:"recorder"`
	// Redis, when it names a server (or Sentinels), makes the node one of a cluster; empty, the
	// node keeps its rooms in memory on its own.
	Redis RedisConfig `yaml:"redis"`
	// Region is where this node runs; a cluster places rooms in the joining node's region first.
	Region string `yaml:"region"`
	// Webhook posts LiveKit's webhook events to the operator's URLs.
	Webhook WebhookConfig `yaml:"webhook"`
}

// WebhookConfig names where events go and the API key that signs them (LiveKit's own keys).
type WebhookConfig struct {
	URLs []string `yaml:"urls"`
	// APIKey is one of keys; empty with a single key, that key.
	APIKey string `yaml:"api_key"`
}

// RecorderConfig configures where recordings go and what composing them may use.
type RecorderConfig struct {
	// Dir holds the recordings, one directory each.
	Dir string `yaml:"dir"`
	// CompositeThreads bounds ffmpeg's threads when it composes a recording (it also runs niced).
	CompositeThreads int `yaml:"composite_threads"`
	// Retention deletes recordings (here and in S3) this long after they end; 0 keeps them.
	Retention time.Duration `yaml:"retention"`
	// AbandonedAfter, in a cluster, is how long the room of a recording in progress may stay on
	// no node (its node died or drained and nobody came back) before a node finishes the
	// recording from what was recorded.
	AbandonedAfter time.Duration `yaml:"abandoned_after"`
	// S3, when it names a bucket, receives each recording's files once they are complete.
	S3 RecorderS3Config `yaml:"s3"`
}

// RecorderS3Config names an S3-compatible bucket for recordings.
type RecorderS3Config struct {
	Endpoint  string `yaml:"endpoint"` // host:port
	AccessKey string `yaml:"access_key"`
	Secret    string `yaml:"secret"`
	Bucket    string `yaml:"bucket"`
	Region    string `yaml:"region"`
	Insecure  bool   `yaml:"insecure"` // plain HTTP to the endpoint
	// LinkTTL is how long the signed download links ListEgress hands out stay good.
	LinkTTL time.Duration `yaml:"link_ttl"`
}

// RedisConfig reaches the Redis server the cluster coordinates through.
type RedisConfig struct {
	Address  string `yaml:"address"` // host:port
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// TLS connects with TLS (system roots, or CAFile's).
	TLS    bool   `yaml:"tls"`
	CAFile string `yaml:"ca_file"`
	// SentinelAddresses and MasterName reach a Sentinel-managed master instead of Address.
	SentinelAddresses []string `yaml:"sentinel_addresses"`
	MasterName        string   `yaml:"master_name"`
	SentinelPassword  string   `yaml:"sentinel_password"`
	// DrainDeadline is how long a draining node (SIGTERM, `hop drain`) lets its meetings go on
	// before asking their participants to move to another node.
	DrainDeadline time.Duration `yaml:"drain_deadline"`
}

// Enabled reports whether the node joins a cluster.
func (r *RedisConfig) Enabled() bool { return r.Address != "" || len(r.SentinelAddresses) > 0 }

// RTCConfig configures media transport.
type RTCConfig struct {
	// UDPPort is the single muxed UDP socket all peer connections share.
	UDPPort int `yaml:"udp_port"`
	// TCPPort is the ICE-TCP listener (0 disables ICE-TCP).
	TCPPort int `yaml:"tcp_port"`
	// BindAddress is where the RTC sockets listen; empty means all interfaces.
	BindAddress string `yaml:"bind_address"`
	// NodeIP, when set, is advertised as the host candidate address (1:1 NAT).
	NodeIP string `yaml:"node_ip"`
	// IncludeLoopback offers 127.0.0.1 candidates: needed when clients run on the same machine.
	IncludeLoopback bool `yaml:"include_loopback"`
	// STUNServers and TURNServers are handed to clients in the JoinResponse.
	STUNServers []string     `yaml:"stun_servers"`
	TURNServers []TURNServer `yaml:"turn_servers"`
	// PLIThrottle is the minimum interval between keyframe requests to one publisher layer.
	PLIThrottle time.Duration `yaml:"pli_throttle"`
	// IPs chooses which local addresses are offered as ICE candidates (CIDRs); empty: all.
	IPs IPFilter `yaml:"ips"`
	// AllowedPeers, when set, restricts the client addresses (CIDRs) media is exchanged with; the
	// two settings below do not apply then.
	AllowedPeers []string `yaml:"allowed_peers"`
	// AllowPrivatePeers: clients at private addresses (RFC 1918, CGNAT 100.64.0.0/10, ULA
	// fc00::/7) are sent ICE checks and media. Unset: yes, unless the node advertises a public IPv4
	// address (node_ip, else bind_address, else its interfaces' addresses), so a LAN deployment
	// works as it is and a public node cannot be aimed at its operator's internal networks.
	// Loopback, link-local and multicast addresses are never peers.
	AllowPrivatePeers *bool `yaml:"allow_private_peers"`
	// AllowSameMachinePeers accepts this machine's own addresses (any interface) and loopback as
	// peers, also with the RTC sockets bound to 127.0.0.1: dev mode sets it, so that pion-based
	// clients (LiveKit's CLI, server-sdk-go), which never offer loopback candidates, can join.
	AllowSameMachinePeers bool `yaml:"allow_same_machine_peers"`
}

// TLSConfig chooses where the node's certificate comes from: files, or an ACME CA.
type TLSConfig struct {
	// Cert and Key are PEM files, read again when they change.
	Cert string     `yaml:"cert"`
	Key  string     `yaml:"key"`
	ACME ACMEConfig `yaml:"acme"`
	// HTTPRedirectPort, when set, serves plain HTTP there: redirects to HTTPS and ACME HTTP-01
	// challenges (0: off).
	HTTPRedirectPort int `yaml:"http_redirect_port"`
}

// ACMEConfig obtains and renews certificates for public names from an ACME CA (Let's Encrypt by
// default), answering HTTP-01 and TLS-ALPN-01 challenges.
type ACMEConfig struct {
	Domains []string `yaml:"domains"`
	Email   string   `yaml:"email"`
	// DirURL is the CA's directory; empty: Let's Encrypt (its staging CA with Staging).
	DirURL  string `yaml:"dir_url"`
	Staging bool   `yaml:"staging"`
	// CacheDir keeps the account key and certificates across restarts; empty: the user's cache
	// directory.
	CacheDir string `yaml:"cache_dir"`
	// CAFile holds PEM roots to trust for the ACME server's own HTTPS (a private ACME CA);
	// empty: the system's roots.
	CAFile string `yaml:"ca_file"`
	// RenewBefore renews this long before expiry; empty: a third of the certificate's lifetime,
	// at most 30 days.
	RenewBefore time.Duration `yaml:"renew_before"`
}

// LetsEncryptStaging is Let's Encrypt's staging directory: untrusted certificates, generous limits.
const LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"

// Enabled reports whether a certificate source is configured.
func (t *TLSConfig) Enabled() bool { return t.Cert != "" || t.Key != "" || len(t.ACME.Domains) > 0 }

// DirectoryURL is the ACME directory to use.
func (a *ACMEConfig) DirectoryURL() string {
	switch {
	case a.DirURL != "":
		return a.DirURL
	case a.Staging:
		return LetsEncryptStaging
	}
	return "https://acme-v02.api.letsencrypt.org/directory"
}

// IPFilter includes and excludes addresses by CIDR.
type IPFilter struct {
	Includes []string `yaml:"includes"`
	Excludes []string `yaml:"excludes"`
}

// TURNServer is an external TURN server offered to clients.
type TURNServer struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
}

// SignalConfig configures the signalling endpoints.
type SignalConfig struct {
	// SinglePeerConnection serves /rtc/v1 (livekit-client's default, one PeerConnection). When false
	// the endpoint answers 404 and LiveKit clients fall back to /rtc with two PeerConnections.
	SinglePeerConnection bool `yaml:"single_peer_connection"`
}

// TURNConfig configures the embedded TURN server (relays media for clients that cannot send UDP to
// the node directly; it relays only to the node itself).
type TURNConfig struct {
	Enabled     bool   `yaml:"enabled"`
	BindAddress string `yaml:"bind_address"`
	UDPPort     int    `yaml:"udp_port"`
	// Host is what clients put in the turn: URL (a domain or IP); default: rtc.node_ip.
	Host string `yaml:"host"`
	// RelayIP is the relayed address; default: rtc.node_ip.
	RelayIP string `yaml:"relay_ip"`
	// TCPPort serves TURN over TCP there (0: off).
	TCPPort int `yaml:"tcp_port"`
	// TLS serves TURN over TLS on the node's HTTPS port (when tls is set), beside HTTPS: one open
	// TCP port is then enough for a client.
	TLS bool `yaml:"tls"`
	// TLSPort is the port clients are told for turns: when a port mapping puts the HTTPS port
	// elsewhere (0: the node's port).
	TLSPort int `yaml:"tls_port"`
	// RelayPortMin and RelayPortMax bound the relay sockets' UDP ports (both 0: any free port).
	RelayPortMin int `yaml:"relay_port_min"`
	RelayPortMax int `yaml:"relay_port_max"`
}

func (t *TURNConfig) validatePorts() error {
	for _, p := range []int{t.TCPPort, t.TLSPort, t.RelayPortMin, t.RelayPortMax} {
		if p < 0 || p > 65535 {
			return errors.New("ports must be between 0 and 65535")
		}
	}
	if (t.RelayPortMin == 0) != (t.RelayPortMax == 0) || t.RelayPortMin > t.RelayPortMax {
		return errors.New("turn: relay_port_min and relay_port_max go together, min <= max")
	}
	return nil
}

// RoomConfig holds room defaults.
type RoomConfig struct {
	// EmptyTimeout closes a room this long after it was created if nobody joined it.
	EmptyTimeout time.Duration `yaml:"empty_timeout"`
	// DepartureTimeout closes a room this long after its last participant left.
	DepartureTimeout time.Duration `yaml:"departure_timeout"`
	// MaxParticipants caps concurrent participants per room; 0 means no cap.
	MaxParticipants int `yaml:"max_participants"`
	// AutoCreate creates rooms on first join.
	AutoCreate bool `yaml:"auto_create"`
	// AllowRemoteUnmute lets administrators unmute others' tracks (off: they can only mute them).
	AllowRemoteUnmute bool `yaml:"allow_remote_unmute"`
	// ResumeWindow is how long a participant whose signal connection dropped is kept for it to resume.
	ResumeWindow time.Duration `yaml:"resume_window"`
	// LobbyWait is how long someone waits in a meeting's lobby before being told no host answered.
	LobbyWait time.Duration `yaml:"lobby_wait"`
}

// LimitsConfig bounds client input.
type LimitsConfig struct {
	// MaxSignalMessage is the largest websocket message accepted, in bytes.
	MaxSignalMessage int64 `yaml:"max_signal_message"`
	// MaxDataPacket is the largest data-channel message forwarded, in bytes.
	MaxDataPacket int `yaml:"max_data_packet"`
	// MaxMetadata is the largest participant metadata accepted, in bytes.
	MaxMetadata int `yaml:"max_metadata"`
	// MaxParticipants caps the participants of all rooms on this node together; 0 means no cap.
	MaxParticipants int `yaml:"max_participants"`
}

// HTTPConfig holds the HTTP server's timeouts. Signalling websockets are exempt once upgraded:
// they keep their own keepalive.
type HTTPConfig struct {
	// ReadHeaderTimeout is how long a client may take to send a request's headers.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout is how long a client may take to send a whole request, body included.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout is how long a response may take, from the end of the request's headers.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection that sends no new request for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// CORSOrigins may call the RoomService and /api from their pages (e.g.
	// https://portal.example.vn, or "*"); none: only the node's own pages.
	CORSOrigins []string `yaml:"cors_origins"`
	// RateLimit bounds how often one client address may join or call the APIs.
	RateLimit RateLimits `yaml:"rate_limit"`
	// TrustedProxies are the reverse proxies (CIDRs) whose X-Forwarded-For names the client:
	// rate limits then count the client, not the proxy.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// RateLimits bound joins (/rtc, /rtc/v1, /api/dev-token) and API calls (RoomService) per client
// address; /api/join, /api/invites and /api/meetings have their own.
type RateLimits struct {
	Joins RateLimitConfig `yaml:"joins"`
	API   RateLimitConfig `yaml:"api"`
	// RoomJoins bounds new participants per room, from any address (resumes are not counted).
	RoomJoins RateLimitConfig `yaml:"room_joins"`
}

// RateLimitConfig is a token bucket per client address: Burst requests at once, then one every
// Every (Burst 0: no limit).
type RateLimitConfig struct {
	Burst int           `yaml:"burst"`
	Every time.Duration `yaml:"every"`
}

// Default returns the production defaults.
func Default() *Config {
	return &Config{
		BindAddress:  "0.0.0.0",
		Port:         7880,
		AdminAddress: DefaultAdminAddress,
		Procs:        "auto",
		Recorder:     RecorderConfig{Dir: "recordings", CompositeThreads: 2, AbandonedAfter: 2 * time.Minute, S3: RecorderS3Config{LinkTTL: time.Hour}},
		LogLevel:     "info",
		Keys:         map[string]string{},
		RTC: RTCConfig{
			UDPPort:     7882,
			TCPPort:     7881,
			PLIThrottle: 500 * time.Millisecond,
		},
		TURN:   TURNConfig{UDPPort: 3478, TLS: true},
		Signal: SignalConfig{SinglePeerConnection: true},
		Room: RoomConfig{
			EmptyTimeout:     5 * time.Minute,
			DepartureTimeout: 20 * time.Second,
			AutoCreate:       true,
			ResumeWindow:     15 * time.Second,
			LobbyWait:        10 * time.Minute,
		},
		Limits: LimitsConfig{
			MaxSignalMessage: 1 << 20,
			MaxDataPacket:    64 << 10,
			MaxMetadata:      64 << 10,
		},
		Redis: RedisConfig{DrainDeadline: time.Minute},
		HTTP: HTTPConfig{
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			RateLimit: RateLimits{
				Joins: RateLimitConfig{Burst: 100, Every: 200 * time.Millisecond},
				API:   RateLimitConfig{Burst: 100, Every: 100 * time.Millisecond},
				// A whole meeting rejoins at once after a restart.
				RoomJoins: RateLimitConfig{Burst: 300, Every: 100 * time.Millisecond},
			},
		},
	}
}

// DefaultAdminAddress is where /metrics and /debug/pprof are served unless configured: this
// machine only, beside the media ports.
const DefaultAdminAddress = "127.0.0.1:7883"

// ApplyDev switches on the development defaults: loopback-only signalling, dev keys, loopback candidates.
func (c *Config) ApplyDev() {
	c.Development = true
	c.BindAddress = "127.0.0.1"
	// A dev node is for this machine: media stays on loopback too.
	if c.RTC.BindAddress == "" {
		c.RTC.BindAddress = "127.0.0.1"
	}
	c.RTC.IncludeLoopback = true
	// Still nothing from outside the machine: the sockets stay on loopback, where this machine's
	// other addresses reach them.
	c.RTC.AllowSameMachinePeers = true
	if len(c.Keys) == 0 {
		c.Keys = map[string]string{DevAPIKey: DevAPISecret}
	}
}

// LoadFile merges a YAML file over c.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path) // #nosec G304 -- the operator's --config
	if err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	return c.LoadYAML(b)
}

// LoadYAML merges YAML over c; unknown keys are an error so that typos do not pass silently.
func (c *Config) LoadYAML(b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// An empty file decodes to io.EOF: that is an empty config, not an error.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("parse config: %w", err)
	}
	return nil
}

// ParseKeys reads "key: secret" pairs separated by commas or newlines, as LiveKit's LIVEKIT_KEYS.
func ParseKeys(s string) (map[string]string, error) {
	keys := map[string]string{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		k, v, ok := strings.Cut(part, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("keys: %q is not \"key: secret\"", strings.TrimSpace(part))
		}
		keys[k] = v
	}
	return keys, nil
}

// Validate reports the first thing that would stop a node from running.
func (c *Config) Validate() error {
	if len(c.Keys) == 0 {
		return errors.New("no API keys: set keys in the config file, --keys, HOP_KEYS, or use --dev")
	}
	if err := c.validateKeys(); err != nil {
		return err
	}
	if c.Port < 0 || c.Port > 65535 || c.RTC.UDPPort < 0 || c.RTC.UDPPort > 65535 || c.RTC.TCPPort < 0 || c.RTC.TCPPort > 65535 || c.TURN.UDPPort < 0 || c.TURN.UDPPort > 65535 {
		return errors.New("ports must be between 0 and 65535")
	}
	for _, cidr := range append(append(append([]string{}, c.RTC.IPs.Includes...), c.RTC.IPs.Excludes...), c.RTC.AllowedPeers...) {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			return fmt.Errorf("rtc: %q is not a CIDR", cidr)
		}
	}
	if c.RTC.NodeIP != "" && net.ParseIP(c.RTC.NodeIP) == nil {
		return fmt.Errorf("rtc.node_ip %q is not an IP address", c.RTC.NodeIP)
	}
	if c.TURN.Enabled {
		if c.TURN.RelayIP == "" && c.RTC.NodeIP == "" && !c.Development {
			return errors.New("turn needs turn.relay_ip or rtc.node_ip")
		}
		if c.TURN.RelayIP != "" && net.ParseIP(c.TURN.RelayIP) == nil {
			return fmt.Errorf("turn.relay_ip %q is not an IP address", c.TURN.RelayIP)
		}
		if err := c.TURN.validatePorts(); err != nil {
			return err
		}
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if c.Room.LobbyWait < 0 {
		return errors.New("room.lobby_wait must not be negative")
	}
	if c.Recorder.Retention < 0 {
		return errors.New("recorder.retention must not be negative (0 keeps recordings)")
	}
	if c.Recorder.AbandonedAfter <= 0 {
		return errors.New("recorder.abandoned_after must be positive")
	}
	if err := c.validateWebhook(); err != nil {
		return err
	}
	if c.Procs != "auto" && c.Procs != "fixed" {
		return fmt.Errorf("procs %q: want auto or fixed", c.Procs)
	}
	if c.HTTP.ReadHeaderTimeout <= 0 || c.HTTP.ReadTimeout <= 0 || c.HTTP.WriteTimeout <= 0 || c.HTTP.IdleTimeout <= 0 {
		return errors.New("http: read_header_timeout, read_timeout, write_timeout and idle_timeout must be positive")
	}
	if c.Limits.MaxParticipants < 0 {
		return errors.New("limits.max_participants must not be negative")
	}
	if c.AdminAddress != "off" && c.AdminAddress != "" {
		if _, _, err := net.SplitHostPort(c.AdminAddress); err != nil {
			return fmt.Errorf("admin_address %q: want host:port or off", c.AdminAddress)
		}
	}
	for _, rl := range []RateLimitConfig{c.HTTP.RateLimit.Joins, c.HTTP.RateLimit.API, c.HTTP.RateLimit.RoomJoins} {
		if rl.Burst < 0 || (rl.Burst > 0 && rl.Every <= 0) {
			return errors.New("http.rate_limit: burst must not be negative, and every must be positive with a burst")
		}
	}
	for _, cidr := range c.HTTP.TrustedProxies {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			return fmt.Errorf("http.trusted_proxies: %q is not a CIDR", cidr)
		}
	}
	if c.Room.MaxParticipants < 0 {
		return errors.New("room.max_participants must not be negative")
	}
	if len(c.Redis.SentinelAddresses) > 0 && c.Redis.MasterName == "" {
		return errors.New("redis: sentinel_addresses need master_name")
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// MinSecretLength is the shortest API secret a production node accepts.
const MinSecretLength = 32

// validateKeys keeps dev mode on this machine with the public dev key, and production keys strong.
func (c *Config) validateKeys() error {
	if c.Development {
		if len(c.Keys) != 1 || c.Keys[DevAPIKey] != DevAPISecret {
			return fmt.Errorf("dev mode runs only with the dev key %s/%s (its /api/dev-token signs tokens for anyone with it): drop --dev to use your own keys", DevAPIKey, DevAPISecret)
		}
		if !c.DevUnsafeBind && !IsLoopback(c.BindAddress) {
			return fmt.Errorf("dev mode listens on loopback only (bind_address %q is not): anyone reaching it could mint tokens at /api/dev-token; --dev-unsafe-bind overrides", c.BindAddress)
		}
		return nil
	}
	names := make([]string, 0, len(c.Keys))
	for k := range c.Keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch s := c.Keys[k]; {
		case s == DevAPISecret:
			return fmt.Errorf("key %q uses the public development secret %q: outside dev mode choose a random secret of at least %d characters", k, DevAPISecret, MinSecretLength)
		case len(s) < MinSecretLength:
			return fmt.Errorf("secret of key %q is too short: at least %d characters (e.g. openssl rand -base64 33)", k, MinSecretLength)
		}
	}
	return nil
}

// IsLoopback reports whether a bind address reaches this machine only ("localhost" included;
// empty means every interface).
func IsLoopback(addr string) bool {
	if addr == "localhost" {
		return true
	}
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

func (c *Config) validateTLS() error {
	t := &c.TLS
	if (t.Cert == "") != (t.Key == "") {
		return errors.New("tls: cert and key go together")
	}
	a := &t.ACME
	if t.Cert != "" && len(a.Domains) > 0 {
		return errors.New("tls: either cert/key or acme, not both")
	}
	if len(a.Domains) > 0 {
		for _, d := range a.Domains {
			if d == "" || net.ParseIP(d) != nil || strings.ContainsAny(d, " /:*") {
				return fmt.Errorf("tls.acme.domains: %q is not a host name", d)
			}
		}
		if a.Staging && a.DirURL != "" {
			return errors.New("tls.acme: staging chooses Let's Encrypt's staging directory; with dir_url set, leave it off")
		}
		if a.RenewBefore < 0 {
			return errors.New("tls.acme.renew_before must not be negative")
		}
	} else if a.Email != "" || a.DirURL != "" || a.Staging || a.CacheDir != "" || a.CAFile != "" || a.RenewBefore != 0 {
		return errors.New("tls.acme needs domains")
	}
	if t.HTTPRedirectPort != 0 {
		if !t.Enabled() {
			return errors.New("tls.http_redirect_port needs a certificate (tls.cert/key or tls.acme)")
		}
		if t.HTTPRedirectPort < 0 || t.HTTPRedirectPort > 65535 {
			return errors.New("ports must be between 0 and 65535")
		}
		if t.HTTPRedirectPort == c.Port {
			return errors.New("tls.http_redirect_port must differ from port")
		}
	}
	return nil
}

// Redacted renders the effective configuration with secrets hidden, for printing at start.
func (c *Config) Redacted() string {
	cp := *c
	cp.Keys = map[string]string{}
	names := make([]string, 0, len(c.Keys))
	for k := range c.Keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		cp.Keys[k] = "<redacted>"
	}
	if cp.Redis.Password != "" {
		cp.Redis.Password = "<redacted>"
	}
	if cp.Redis.SentinelPassword != "" {
		cp.Redis.SentinelPassword = "<redacted>"
	}
	cp.RTC.TURNServers = nil
	for _, t := range c.RTC.TURNServers {
		t.Credential = "<redacted>"
		cp.RTC.TURNServers = append(cp.RTC.TURNServers, t)
	}
	if cp.Recorder.S3.Secret != "" {
		cp.Recorder.S3.Secret = "<redacted>"
	}
	b, err := yaml.Marshal(&cp)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (c *Config) validateWebhook() error {
	w := &c.Webhook
	if len(w.URLs) == 0 {
		return nil
	}
	for _, u := range w.URLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("webhook.urls: %q is not an http or https URL", u)
		}
	}
	if w.APIKey == "" && len(c.Keys) == 1 {
		for k := range c.Keys {
			w.APIKey = k
		}
	}
	if c.Keys[w.APIKey] == "" {
		return fmt.Errorf("webhook.api_key %q is not one of keys", w.APIKey)
	}
	return nil
}
