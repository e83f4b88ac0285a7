package node

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/metrics"
)

// startAdmin serves /metrics and Go's profiler on the admin address, apart from the public port:
// they tell who is in which room and let a caller stall the node.
func (n *Node) startAdmin() error {
	addr := n.cfg.AdminAddress
	if addr == "" || addr == "off" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil && addr == config.DefaultAdminAddress {
		// Another node on this machine has the default port: this one runs without, rather than
		// not at all; an address the operator chose must be served.
		n.log.Warn("admin listener not started: set admin_address", "addr", addr, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen admin %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", metrics.Handler(n.id, n.engine, n.rooms, n.metricsExtra...))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No write timeout: a CPU profile or trace takes as long as asked.
	n.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.adminLn = ln
	go func() { _ = n.admin.Serve(ln) }()
	return nil
}

// AdminAddr is where /metrics and /debug/pprof are served (nil: off).
func (n *Node) AdminAddr() net.Addr {
	if n.adminLn == nil {
		return nil
	}
	return n.adminLn.Addr()
}
