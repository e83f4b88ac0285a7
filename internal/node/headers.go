package node

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/ratelimit"
)

// securityHeaders sets what browsers need to confine the page: a Content-Security-Policy that
// still lets livekit-client work (websockets and fetches to this host, media from blob: and
// MediaStreams, its E2EE worker), no framing, no MIME sniffing, no referrer, and the camera,
// microphone and screen capture for this origin only.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy(r))
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self), fullscreen=(self), geolocation=(), payment=(), usb=()")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy names this host's websocket origins explicitly: browsers that predate
// CSP level 3 do not count ws(s) to the page's own host as 'self'.
func contentSecurityPolicy(r *http.Request) string {
	connect := "'self'"
	if host := r.Host; host != "" && !strings.ContainsAny(host, " ;,'\"") {
		connect += " wss://" + host
		if r.TLS == nil {
			connect += " ws://" + host
		}
	}
	return "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
		"img-src 'self' data: blob:; media-src 'self' blob: mediastream:; font-src 'self' data:; " +
		"connect-src " + connect + "; worker-src 'self' blob:; object-src 'none'; base-uri 'self'; " +
		"form-action 'self'; frame-ancestors 'none'"
}

// apiCORS answers cross-origin callers of the node's APIs (RoomService, /api) only from the
// configured origins; with none configured browsers keep those APIs to the node's own pages.
// /rtc/validate sets its own headers: LiveKit clients on any origin call it with their token.
func apiCORS(origins []string, h http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[strings.TrimRight(o, "/")] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := strings.HasPrefix(r.URL.Path, "/twirp/") || strings.HasPrefix(r.URL.Path, "/api/")
		origin := r.Header.Get("Origin")
		if !api || origin == "" {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		if !allowed[origin] && !allowed["*"] {
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// rateLimited slows clients that join (/rtc, /rtc/v1, /api/dev-token) or call the RoomService
// too often, each kind with its own bucket per client address (nil: no limit).
func rateLimited(joins, api *ratelimit.Limiter, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var l *ratelimit.Limiter
		switch p := r.URL.Path; {
		case p == "/rtc" || strings.HasPrefix(p, "/rtc/") || p == "/api/dev-token":
			l = joins
		case strings.HasPrefix(p, "/twirp/"):
			l = api
		}
		if l != nil && r.Method != http.MethodOptions && !l.Check(w, r, time.Now()) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

func newLimiter(c config.RateLimitConfig) *ratelimit.Limiter {
	if c.Burst == 0 {
		return nil
	}
	return ratelimit.New(c.Burst, c.Every)
}

// forwardedClient takes the client's address from X-Forwarded-For when the connection comes from
// a trusted reverse proxy: the address the proxy itself saw (the last entry), never one the
// client may have written.
func forwardedClient(trusted []*net.IPNet, h http.Handler) http.Handler {
	if len(trusted) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := net.ParseIP(ratelimit.ClientIP(r))
		fwd := r.Header.Values("X-Forwarded-For")
		if peer != nil && len(fwd) > 0 && inNets(peer, trusted) {
			parts := strings.Split(fwd[len(fwd)-1], ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				r2 := r.Clone(r.Context())
				r2.RemoteAddr = net.JoinHostPort(ip.String(), "0")
				r = r2
			}
		}
		h.ServeHTTP(w, r)
	})
}

func inNets(ip net.IP, nets []*net.IPNet) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// roomJoinLimit bounds how fast new participants enter one room (nil: no bound).
func roomJoinLimit(c config.RateLimitConfig) func(string) (bool, time.Duration) {
	l := newLimiter(c)
	if l == nil {
		return nil
	}
	return func(room string) (bool, time.Duration) { return l.Allow(room, time.Now()) }
}
