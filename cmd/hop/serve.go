package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/node"
	"github.com/hop-meet/hop/internal/procs"
	"github.com/hop-meet/hop/internal/tick"
)

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration file")
	dev := fs.Bool("dev", false, "development mode: 127.0.0.1, dev keys (devkey/secret), loopback ICE candidates")
	devUnsafeBind := fs.Bool("dev-unsafe-bind", false, "let --dev listen beyond loopback (anyone reaching it can mint tokens at /api/dev-token)")
	bind := fs.String("bind", "", "address HTTP and websockets listen on")
	port := fs.Int("port", -1, "HTTP/websocket port")
	udp := fs.Int("rtc-udp-port", -1, "muxed RTC UDP port")
	tcp := fs.Int("rtc-tcp-port", -1, "ICE-TCP port (0 disables)")
	rtcBind := fs.String("rtc-bind", "", "address the RTC sockets listen on (default: all)")
	nodeIP := fs.String("node-ip", "", "IP address advertised in ICE candidates")
	keys := fs.String("keys", "", `API keys as "key: secret" pairs, comma separated (or HOP_KEYS)`)
	logLevel := fs.String("log-level", "", "debug, info, warn or error")
	maxParticipants := fs.Int("max-participants", -1, "per-room participant cap (0: none)")
	procsMode := fs.String("procs", "", "auto: run on as many processors as the load needs, up to GOMAXPROCS; fixed: always GOMAXPROCS")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; reloaded when it changes")
	tlsKey := fs.String("tls-key", "", "the certificate's PEM private key file")
	redirectPort := fs.Int("http-redirect-port", -1, "with TLS: plain-HTTP port redirecting to HTTPS and answering ACME HTTP-01 (0: off)")
	pprofAddr := fs.String("pprof", "", "serve Go's profiler (/debug/pprof/) on this address, e.g. 127.0.0.1:6060")
	redisAddr := fs.String("redis", "", "join a cluster coordinated through the Redis server at HOST:PORT")
	redisPassword := fs.String("redis-password", "", "Redis password (or HOP_REDIS_PASSWORD)")
	redisTLS := fs.Bool("redis-tls", false, "connect to Redis with TLS")
	redisSentinels := fs.String("redis-sentinels", "", "Sentinel addresses HOST:PORT, comma separated (instead of --redis)")
	redisMaster := fs.String("redis-master", "", "the master name the Sentinels watch")
	region := fs.String("region", "", "the region this node runs in (rooms are placed in the joining node's region first)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	cfg := config.Default()
	if *cfgPath != "" {
		if err := cfg.LoadFile(*cfgPath); err != nil {
			return err
		}
	}
	if *dev {
		cfg.ApplyDev()
	}
	if env := os.Getenv("HOP_KEYS"); env != "" && *keys == "" {
		*keys = env
	}
	if *keys != "" {
		k, err := config.ParseKeys(*keys)
		if err != nil {
			return err
		}
		cfg.Keys = k
	}
	if *devUnsafeBind {
		cfg.DevUnsafeBind = true
	}
	if *tlsCert != "" || *tlsKey != "" {
		cfg.TLS.Cert, cfg.TLS.Key = *tlsCert, *tlsKey
	}
	if *redirectPort >= 0 {
		cfg.TLS.HTTPRedirectPort = *redirectPort
	}
	if *bind != "" {
		cfg.BindAddress = *bind
	}
	if *port >= 0 {
		cfg.Port = *port
	}
	if *udp >= 0 {
		cfg.RTC.UDPPort = *udp
	}
	if *tcp >= 0 {
		cfg.RTC.TCPPort = *tcp
	}
	if *rtcBind != "" {
		cfg.RTC.BindAddress = *rtcBind
	}
	if *nodeIP != "" {
		cfg.RTC.NodeIP = *nodeIP
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if *maxParticipants >= 0 {
		cfg.Room.MaxParticipants = *maxParticipants
	}
	if *procsMode != "" {
		cfg.Procs = *procsMode
	}
	applyRedisFlags(&cfg.Redis, *redisAddr, *redisPassword, *redisSentinels, *redisMaster, *redisTLS)
	if *region != "" {
		cfg.Region = *region
	}
	if err := cfg.Validate(); err != nil {
		return err
	}

	if _, set := os.LookupEnv("GOGC"); !set {
		// The heap is mostly participants' long-lived state and about 50 bytes are allocated per
		// forwarded packet, so collecting at 1.25x the live heap rather than Go's 2x costs little
		// CPU (measured under load: one collection every ~10 s, 0.4% of the node's CPU) and keeps
		// a third less memory resident.
		debug.SetGCPercent(defaultGCPercent)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: parseLevel(cfg.LogLevel)}))
	slog.SetDefault(log)
	fmt.Fprintf(os.Stderr, "hop %s — effective configuration:\n%s\n", version, cfg.Redacted())

	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr, log); err != nil {
			n.Close()
			return err
		}
	}
	if cfg.Development && !config.IsLoopback(cfg.BindAddress) {
		log.Warn("DEV MODE REACHABLE BEYOND THIS MACHINE: anyone who can connect can mint join tokens for any room at /api/dev-token", "bind", cfg.BindAddress)
		fmt.Fprintf(os.Stderr, "\n  WARNING: dev mode on %s (--dev-unsafe-bind): anyone who reaches this node can join any room.\n\n", cfg.BindAddress)
	}
	if cfg.Development {
		scheme := "http"
		if cfg.TLS.Enabled() {
			scheme = "https"
		}
		fmt.Fprintf(os.Stderr, "\n  Open %s://localhost:%d in two browser tabs to try a meeting.\n\n", scheme, cfg.Port)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// SIGTERM drains a cluster's node (its meetings move after the drain deadline), then exits;
	// a node on its own stops at once.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		if n.Cluster() != nil {
			n.Drain(cfg.Redis.DrainDeadline)
		}
		stop()
	}()
	if cfg.Procs == "auto" {
		// Started after the node sized its writer pool to GOMAXPROCS: the writers stay, only the
		// processors they run on follow the load.
		go procs.Run(ctx, log, tick.New(procs.Period))
	}
	return n.Serve(ctx)
}

// defaultGCPercent is the GOGC `hop serve` runs with unless GOGC is set.
const defaultGCPercent = 25

func parseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// servePprof exposes the profiler on its own listener, away from the public port.
func servePprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	log.Info("profiler listening", "addr", ln.Addr().String())
	// No write timeout: a CPU profile or trace takes as long as asked.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// applyRedisFlags lays the command line's Redis settings over the configuration file's.
func applyRedisFlags(r *config.RedisConfig, addr, password, sentinels, master string, useTLS bool) {
	if addr != "" {
		r.Address = addr
	}
	if env := os.Getenv("HOP_REDIS_PASSWORD"); env != "" && password == "" {
		password = env
	}
	if password != "" {
		r.Password = password
	}
	if sentinels != "" {
		r.SentinelAddresses = strings.Split(sentinels, ",")
	}
	if master != "" {
		r.MasterName = master
	}
	if useTLS {
		r.TLS = true
	}
}
