// Package node wires one Hop node together: configuration, the SFU engine, rooms, routing, the
// signalling endpoints and the web client, behind one HTTP server.
package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/metrics"
	"github.com/hop-meet/hop/recorder"
	"github.com/hop-meet/hop/sfu"
	"github.com/hop-meet/hop/sfu/turn"
	"github.com/hop-meet/hop/signaling"
	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/control"
	"github.com/hop-meet/hop/signaling/egress"
	"github.com/hop-meet/hop/signaling/meeting"
	"github.com/hop-meet/hop/signaling/room"
	"github.com/hop-meet/hop/signaling/roomservice"
	"github.com/hop-meet/hop/signaling/routing"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
	"github.com/hop-meet/hop/signaling/webhook"
	"github.com/hop-meet/hop/webclient"
)

// Node is a running Hop node.
type Node struct {
	egress   *egress.Service
	cfg      *config.Config
	log      *slog.Logger
	id       string
	engine   *sfu.Engine
	rooms    *room.Manager
	signal   *signaling.Server
	http     *http.Server
	listener net.Listener
	turn     *turn.Server
	turnURLs []string
	tls      *frontTLS    // nil: plain HTTP
	admin    *http.Server // nil: off
	adminLn  net.Listener
	// turnTLS receives the TURN-over-TLS connections of the HTTPS port (nil: not served).
	turnTLS net.Listener
	cluster *rediscluster.Cluster // nil: a node on its own
	// webhooks posts room and recording events to the operator (nil: none configured).
	webhooks *webhook.Notifier
	// metricsExtra are collectors /metrics serves besides the node's own (the cluster's, the TURN server's).
	metricsExtra []prometheus.Collector
	// drained is closed when a drain has moved every room away.
	drained   chan struct{}
	drainOnce sync.Once
}

// New builds a node from a validated configuration and opens its sockets.
func New(cfg *config.Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	n := &Node{cfg: cfg, log: log, id: guid.New(guid.NodePrefix), drained: make(chan struct{})}
	includeLoopback := cfg.RTC.IncludeLoopback
	if ip := net.ParseIP(cfg.RTC.NodeIP); ip != nil && ip.IsLoopback() {
		includeLoopback = true // a loopback node IP is only reachable through loopback candidates
	}
	var hooks *webhook.Notifier
	if len(cfg.Webhook.URLs) > 0 {
		h, err := webhook.New(cfg.Webhook.URLs, cfg.Webhook.APIKey, cfg.Keys, log)
		if err != nil {
			return nil, err
		}
		hooks = h
	}
	includes, err := sfu.ParseCIDRs(cfg.RTC.IPs.Includes)
	if err != nil {
		return nil, err
	}
	excludes, err := sfu.ParseCIDRs(cfg.RTC.IPs.Excludes)
	if err != nil {
		return nil, err
	}
	peers, err := sfu.ParseCIDRs(cfg.RTC.AllowedPeers)
	if err != nil {
		return nil, err
	}
	var relayPeers []net.IP
	if cfg.TURN.Enabled {
		relayPeers = []net.IP{net.ParseIP(turnRelayIP(cfg))}
	}
	var store *recorder.S3
	if s3 := cfg.Recorder.S3; s3.Bucket != "" {
		if store, err = recorder.NewS3(recorder.S3Config{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, Secret: s3.Secret,
			Bucket: s3.Bucket, Region: s3.Region, Insecure: s3.Insecure}); err != nil {
			return nil, err
		}
	}
	engine, err := sfu.NewEngine(sfu.Config{
		RelayPeers:            relayPeers,
		LocalIncludes:         includes,
		LocalExcludes:         excludes,
		AllowedPeers:          peers,
		AllowPrivatePeers:     cfg.RTC.AllowPrivatePeers,
		AllowSameMachinePeers: cfg.RTC.AllowSameMachinePeers,
		BindAddress:           cfg.RTC.BindAddress,
		UDPPort:               cfg.RTC.UDPPort,
		TCPPort:               tcpPort(cfg.RTC.TCPPort),
		NodeIP:                cfg.RTC.NodeIP,
		IncludeLoopback:       includeLoopback,
		PLIThrottle:           cfg.RTC.PLIThrottle,
		Logger:                log,
	})
	if err != nil {
		return nil, err
	}
	n.engine = engine

	var static []*livekit.ICEServer
	if len(cfg.RTC.STUNServers) > 0 {
		static = append(static, &livekit.ICEServer{Urls: cfg.RTC.STUNServers})
	}
	for _, t := range cfg.RTC.TURNServers {
		static = append(static, &livekit.ICEServer{Urls: t.URLs, Username: t.Username, Credential: t.Credential})
	}
	iceServers := func(participant string) []*livekit.ICEServer {
		out := append([]*livekit.ICEServer{}, static...)
		if n.turn != nil {
			user, pass, err := n.turn.Credentials(participant)
			if err == nil {
				out = append(out, &livekit.ICEServer{Urls: n.turnURLs, Username: user, Credential: pass})
			}
		}
		return out
	}
	// A cluster's rooms are leased through Redis and reached from any node; alone, in memory.
	var registry routing.RoomRegistry = routing.NewMemoryRegistry()
	if cfg.Redis.Enabled() {
		if n.cluster, err = n.newCluster(); err != nil {
			n.closeMedia()
			return nil, err
		}
		registry = n.cluster.Registry()
	}
	n.rooms = room.NewManager(roomConfig(cfg, n.id, iceServers, log), room.SFUMedia(engine), registry)
	var router routing.Router = &routing.Local{NodeID: n.id, Host: n.rooms, Registry: registry}
	rooms := roomservice.LocalRooms(n.rooms)
	var metricsExtra []prometheus.Collector
	if n.cluster != nil {
		n.attachCluster(n.cluster, n.rooms)
		router, rooms = n.cluster.Router(), n.cluster.Rooms()
		metricsExtra = append(metricsExtra, metrics.ClusterCollector(n.id, n.cluster))
	}
	verifier := auth.NewVerifier(cfg.Keys)
	n.signal = signaling.NewServer(signaling.Config{
		Verifier:   verifier,
		Router:     router,
		Logger:     log,
		MaxMessage: cfg.Limits.MaxSignalMessage,
		DisableV1:  !cfg.Signal.SinglePeerConnection,
		AllowJoin:  roomJoinLimit(cfg.HTTP.RateLimit.RoomJoins),
	})

	mux := http.NewServeMux()
	n.signal.Register(mux)
	ecfg := egress.Config{Dir: cfg.Recorder.Dir, CompositeThreads: cfg.Recorder.CompositeThreads,
		Store: store, LinkTTL: cfg.Recorder.S3.LinkTTL, Retention: cfg.Recorder.Retention, Logger: log}
	if hooks != nil {
		ecfg.Events = hooks
	}
	if n.cluster != nil {
		ecfg.Ledger, ecfg.Peers = n.cluster.RecordingLedger(), n.cluster.EgressPeers()
		ecfg.AbandonedAfter = cfg.Recorder.AbandonedAfter
	}
	n.egress = egress.New(ecfg, egress.LocalRooms(n.rooms))
	if n.cluster != nil {
		n.cluster.AttachEgress(n.egress)
	}
	n.rooms.SetMeetingRecorder(n.egress.MeetingRecorder())
	if hooks != nil {
		n.webhooks = hooks
		n.rooms.SetEvents(hooks)
	}
	n.egress.RegisterRecordings(mux, verifier)
	mux.Handle(egress.Prefix, n.egress.Handler(verifier, cfg.Limits.MaxSignalMessage))
	mux.Handle(roomservice.Prefix, roomservice.Handler(verifier, rooms, cfg.Limits.MaxSignalMessage))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	n.metricsExtra = metricsExtra
	if cfg.Development {
		mux.HandleFunc("/api/dev-token", n.serveDevToken)
	}
	exchangeBurst := 0 // the exchange's own default
	if cfg.HTTP.RateLimit.Joins.Burst == 0 {
		exchangeBurst = -1 // rate limits off (test nodes)
	}
	meeting.New(meeting.Config{Keys: cfg.Keys, Dev: cfg.Development, Logger: log, Gate: meetingGate{n.rooms},
		JoinBurst: exchangeBurst}).Register(mux)
	control.New(verifier, control.LocalRooms{M: n.rooms}).Register(mux)
	page := webclient.Handler()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// livekit-client probes the server with HEAD on its base URL before resuming.
		if r.Method == http.MethodHead && r.URL.Path == "/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		page.ServeHTTP(w, r)
	})

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.Port)))
	if err != nil {
		n.closeMedia()
		return nil, fmt.Errorf("listen http %s:%d: %w", cfg.BindAddress, cfg.Port, err)
	}
	n.listener = ln
	// Upgraded websockets leave these deadlines behind (signaling.Server clears them and keeps
	// its own keepalive); every other connection is bounded by them.
	proxies, err := sfu.ParseCIDRs(cfg.HTTP.TrustedProxies)
	if err != nil {
		_ = ln.Close()
		n.closeMedia()
		return nil, err
	}
	var handler http.Handler = apiCORS(cfg.HTTP.CORSOrigins, mux)
	handler = rateLimited(newLimiter(cfg.HTTP.RateLimit.Joins), newLimiter(cfg.HTTP.RateLimit.API), handler)
	handler = securityHeaders(forwardedClient(proxies, handler))
	n.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
	}
	if err := n.setupTLS(); err != nil {
		_ = ln.Close()
		n.closeMedia()
		return nil, err
	}
	if cfg.TURN.Enabled {
		if err := n.startTURN(); err != nil {
			_ = n.listener.Close()
			n.tls.close(context.Background())
			n.closeMedia()
			return nil, err
		}
	}
	if err := n.startAdmin(); err != nil {
		_ = n.listener.Close()
		n.tls.close(context.Background())
		n.closeMedia()
		return nil, err
	}
	if n.cluster != nil {
		n.cluster.SetURL(n.URL())
		n.cluster.Start()
	}
	return n, nil
}

// roomConfig is the room domain's view of the node's configuration.
func roomConfig(cfg *config.Config, nodeID string, ice func(string) []*livekit.ICEServer, log *slog.Logger) room.Config {
	return room.Config{
		NodeID:            nodeID,
		AutoCreate:        cfg.Room.AutoCreate,
		EmptyTimeout:      cfg.Room.EmptyTimeout,
		DepartureTimeout:  cfg.Room.DepartureTimeout,
		MaxParticipants:   cfg.Room.MaxParticipants,
		NodeParticipants:  cfg.Limits.MaxParticipants,
		AllowRemoteUnmute: cfg.Room.AllowRemoteUnmute,
		ResumeWindow:      cfg.Room.ResumeWindow,
		LobbyWait:         cfg.Room.LobbyWait,
		Limits:            room.Limits{MaxDataPacket: cfg.Limits.MaxDataPacket, MaxMetadata: cfg.Limits.MaxMetadata},
		ICEServers:        ice,
		Logger:            log,
	}
}

// tcpPort maps the config's "0 disables ICE-TCP" onto the engine's -1.
func tcpPort(p int) int {
	if p == 0 {
		return -1
	}
	return p
}

// Addr is the HTTP address the node listens on.
func (n *Node) Addr() net.Addr { return n.listener.Addr() }

// URL is the node's websocket base URL (wss with TLS).
func (n *Node) URL() string {
	if n.tls != nil {
		return "wss://" + n.listener.Addr().String()
	}
	return "ws://" + n.listener.Addr().String()
}

// Cluster is the node's cluster membership, nil for a node on its own.
func (n *Node) Cluster() *rediscluster.Cluster { return n.cluster }

// Engine exposes the SFU engine (tests and benchmarks).
func (n *Node) Engine() *sfu.Engine { return n.engine }

// Rooms exposes the room manager.
func (n *Node) Rooms() *room.Manager { return n.rooms }

// ID is the node's id.
func (n *Node) ID() string { return n.id }

// Serve runs until ctx is done, then shuts down gracefully.
func (n *Node) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- n.http.Serve(n.listener) }()
	n.log.Info("hop node started", "node", n.id, "http", n.listener.Addr().String(),
		"rtcUDP", n.engine.UDPAddr().String(), "rtcTCP", addrString(n.engine.TCPAddr()), "admin", addrString(n.AdminAddr()))
	select {
	case <-ctx.Done():
	case <-n.drained:
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.Close()
			return err
		}
	}
	n.Close()
	return nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// Close disconnects everyone and releases the sockets.
func (n *Node) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.egress.Close()
	n.rooms.Close()
	if n.webhooks != nil {
		n.webhooks.Close() // after the rooms' last events
	}
	if n.cluster != nil {
		n.cluster.Close() // after the rooms, whose leases they give back
	}
	n.signal.Close()
	_ = n.http.Shutdown(ctx)
	if n.admin != nil {
		_ = n.admin.Shutdown(ctx)
	}
	n.tls.close(ctx)
	n.closeMedia()
}

func (n *Node) closeMedia() {
	if n.turn != nil {
		_ = n.turn.Close()
	}
	n.engine.Close()
}

// startTURN runs the embedded TURN server, relaying only to this node's media address: over
// UDP, over TCP on its own port when set, and over TLS on the HTTPS port when served there.
func (n *Node) startTURN() error {
	tc := &n.cfg.TURN
	relay := turnRelayIP(n.cfg)
	relayIP := net.ParseIP(relay)
	peers := []net.IP{relayIP}
	if a, ok := n.engine.UDPAddr().(*net.UDPAddr); ok && !a.IP.IsUnspecified() {
		peers = append(peers, a.IP)
	}
	if n.cfg.RTC.NodeIP != "" {
		peers = append(peers, net.ParseIP(n.cfg.RTC.NodeIP))
	}
	if n.cfg.RTC.IncludeLoopback {
		peers = append(peers, net.IPv4(127, 0, 0, 1))
	}
	var streams []net.Listener
	if n.turnTLS != nil {
		streams = append(streams, n.turnTLS)
	}
	srv, err := turn.Start(turn.Config{
		BindAddress:  tc.BindAddress,
		UDPPort:      tc.UDPPort,
		TCPPort:      tc.TCPPort,
		Streams:      streams,
		RelayPortMin: uint16(tc.RelayPortMin), // #nosec G115 -- Validate keeps ports within 0..65535
		RelayPortMax: uint16(tc.RelayPortMax), // #nosec G115 -- as above
		RelayIP:      relayIP,
		AllowedPeers: peers,
		Logger:       sfu.PionLoggerFactory(n.log),
		SetBuffers:   func(c net.PacketConn) { sfu.SetSocketBuffers(c, sfu.SocketBuffer) },
	})
	if err != nil {
		return err
	}
	n.turn = srv
	n.metricsExtra = append(n.metricsExtra, metrics.TURNCollector(n.id, srv))
	host := tc.Host
	if host == "" {
		host = relay
	}
	n.turnURLs = []string{fmt.Sprintf("turn:%s?transport=udp", net.JoinHostPort(host, strconv.Itoa(srv.Addr().Port)))}
	if a := srv.TCPAddr(); a != nil {
		n.turnURLs = append(n.turnURLs, fmt.Sprintf("turn:%s?transport=tcp", net.JoinHostPort(host, strconv.Itoa(a.Port))))
	}
	if n.turnTLS != nil {
		port := n.listener.Addr().(*net.TCPAddr).Port
		if tc.TLSPort != 0 {
			port = tc.TLSPort
		}
		// A browser checks the certificate against the turns: host: a name on it.
		tlsHost := host
		if tc.Host == "" && len(n.cfg.TLS.ACME.Domains) > 0 {
			tlsHost = n.cfg.TLS.ACME.Domains[0]
		}
		n.turnURLs = append(n.turnURLs, fmt.Sprintf("turns:%s?transport=tcp", net.JoinHostPort(tlsHost, strconv.Itoa(port))))
	}
	n.log.Info("embedded TURN server started", "udp", srv.Addr().String(), "tcp", addrString(srv.TCPAddr()),
		"tls", n.turnTLS != nil, "relay", relay, "urls", n.turnURLs)
	return nil
}

// turnRelayIP is the address of the embedded TURN server's relays: turn.relay_ip, else
// rtc.node_ip, else loopback (dev).
func turnRelayIP(cfg *config.Config) string {
	if cfg.TURN.RelayIP != "" {
		return cfg.TURN.RelayIP
	}
	if cfg.RTC.NodeIP != "" {
		return cfg.RTC.NodeIP
	}
	return "127.0.0.1"
}

// serveDevToken mints join tokens for the built-in page. Development mode only: it lets anyone who can
// reach the node join any room.
func (n *Node) serveDevToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	room, identity := q.Get("room"), q.Get("identity")
	if room == "" || identity == "" || len(room) > 128 || len(identity) > 128 {
		http.Error(w, `{"error":"room and identity are required (at most 128 characters)"}`, http.StatusBadRequest)
		return
	}
	var key, secret string
	for k, s := range n.cfg.Keys {
		key, secret = k, s
		break
	}
	tok, err := auth.NewToken(key, secret, room, identity, 6*time.Hour, false, q.Get("name"))
	if err != nil {
		http.Error(w, `{"error":"cannot sign token"}`, http.StatusInternalServerError)
		return
	}
	scheme := "ws://"
	if r.TLS != nil {
		scheme = "wss://"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok, "url": scheme + r.Host})
}
