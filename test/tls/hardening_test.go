package tls_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

func get(t *testing.T, c *http.Client, u string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// /metrics and the profiler are served on the admin listener only, never on the public port.
func TestMetricsAndPprofOnlyOnTheAdminListener(t *testing.T) {
	n := testkit.StartNode(t, nil)
	if n.AdminURL == "" {
		t.Fatal("no admin listener")
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for _, p := range []string{"/metrics", "/debug/pprof/"} {
		resp, body := get(t, c, n.HTTPURL+p, nil)
		if resp.StatusCode == http.StatusOK && (strings.Contains(body, "hop_") || strings.Contains(body, "goroutine")) {
			t.Errorf("public port serves %s", p)
		}
		resp, body = get(t, c, n.AdminURL+p, nil)
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("admin listener %s: status %d", p, resp.StatusCode)
		}
	}
	if _, body := get(t, c, n.AdminURL+"/metrics", nil); !strings.Contains(body, "hop_rooms") {
		t.Errorf("admin /metrics lacks hop_rooms")
	}
	if a := config.Default().AdminAddress; !strings.HasPrefix(a, "127.0.0.1:") {
		t.Errorf("default admin_address %q is not on loopback", a)
	}
}

// The page comes with a CSP that confines it to this host (websockets included) and refuses
// framing, and with the other headers that keep a browser from sniffing, leaking the address or
// lending the camera to other origins.
func TestSecurityHeaders(t *testing.T) {
	n := testkit.StartNode(t, nil)
	resp, _ := get(t, &http.Client{Timeout: 10 * time.Second}, n.HTTPURL+"/", nil)
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	host := strings.TrimPrefix(n.HTTPURL, "http://")
	for _, want := range []string{"frame-ancestors 'none'", "script-src 'self'", "object-src 'none'", "media-src 'self' blob: mediastream:", "connect-src 'self' wss://" + host + " ws://" + host} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy lacks %q: %q", want, csp)
		}
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if pp := h.Get("Permissions-Policy"); !strings.Contains(pp, "camera=(self)") || !strings.Contains(pp, "microphone=(self)") || !strings.Contains(pp, "display-capture=(self)") {
		t.Errorf("Permissions-Policy = %q", pp)
	}
}

// Browsers on other origins may not call the RoomService or /api unless configured; /rtc/validate
// stays open to them (LiveKit clients call it with their token from any page).
func TestCORSClosedByDefault(t *testing.T) {
	const friend = "https://portal.example.vn"
	n := testkit.StartNode(t, func(c *config.Config) { c.HTTP.CORSOrigins = []string{friend} })
	c := &http.Client{Timeout: 10 * time.Second}
	preflight := func(path, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, n.HTTPURL+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, p := range []string{"/twirp/livekit.RoomService/ListRooms", "/api/join"} {
		if r := preflight(p, "https://evil.example"); r.Header.Get("Access-Control-Allow-Origin") != "" || r.StatusCode < 400 {
			t.Errorf("%s: preflight from another origin: status %d, allow-origin %q", p, r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
		}
		if r := preflight(p, friend); r.Header.Get("Access-Control-Allow-Origin") != friend || r.StatusCode != http.StatusNoContent {
			t.Errorf("%s: preflight from the configured origin: status %d, allow-origin %q", p, r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	resp, body := get(t, c, n.HTTPURL+"/rtc/validate?access_token="+url.QueryEscape(n.Token(t, "cors", "ana")), http.Header{"Origin": {"https://any.example"}})
	if resp.StatusCode != http.StatusOK || body != "success" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("/rtc/validate from another origin: %d %q, allow-origin %q", resp.StatusCode, body, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// A burst of joins from one address is slowed with 429 and Retry-After; another address still
// joins, and so does a client behind a trusted proxy whose X-Forwarded-For names another address.
func TestJoinRateLimitPerAddress(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) {
		c.HTTP.RateLimit.Joins = config.RateLimitConfig{Burst: 3, Every: time.Minute}
		c.HTTP.TrustedProxies = []string{"127.0.0.3/32"}
	})
	_, port, _ := net.SplitHostPort(n.Addr().String())
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}}
	}
	validate := "http://127.0.0.1:" + port + "/rtc/validate?access_token=" + url.QueryEscape(n.Token(t, "limits", "ana"))
	one := from("127.0.0.1")
	for i := range 3 {
		if resp, body := get(t, one, validate, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("join %d within the burst: %d %q", i, resp.StatusCode, body)
		}
	}
	resp, _ := get(t, one, validate, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth join from one address: status %d, want 429", resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q, want 1..60 s", resp.Header.Get("Retry-After"))
	}
	// The websocket join is limited as well.
	ws := strings.Replace(validate, "/rtc/validate", "/rtc", 1)
	if resp, _ := get(t, one, ws, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("websocket join over the limit: status %d, want 429", resp.StatusCode)
	}
	if resp, body := get(t, from("127.0.0.2"), validate, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("another address: %d %q", resp.StatusCode, body)
	}
	// Behind the trusted proxy each client has its bucket; a client's own X-Forwarded-For entries
	// before the proxy's are not believed.
	proxy := from("127.0.0.3")
	for i := range 3 {
		if resp, _ := get(t, proxy, validate, http.Header{"X-Forwarded-For": {"198.51.100.7, 203.0.113." + strconv.Itoa(i+1)}}); resp.StatusCode != http.StatusOK {
			t.Errorf("client %d behind the proxy: status %d", i, resp.StatusCode)
		}
	}
	for i := range 4 {
		resp, _ := get(t, proxy, validate, http.Header{"X-Forwarded-For": {"203.0.113." + strconv.Itoa(100+i) + ", 203.0.113.50"}})
		if i == 3 && resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("one client behind the proxy, fourth join: status %d, want 429", resp.StatusCode)
		}
	}
}

// New participants enter one room at a bounded pace, from whatever addresses: beyond it a join
// is answered 429 with Retry-After, while other rooms still take joins.
func TestRoomJoinRateLimit(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) {
		c.HTTP.RateLimit.RoomJoins = config.RateLimitConfig{Burst: 2, Every: time.Minute}
	})
	join := func(room, identity string) (int, string) {
		u := n.URL() + "/rtc?auto_subscribe=1&protocol=17&sdk=go&access_token=" + url.QueryEscape(n.Token(t, room, identity))
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
		ws, resp, err := d.Dial(u, nil)
		if err != nil {
			if resp == nil {
				t.Fatalf("join %s/%s: %v", room, identity, err)
			}
			return resp.StatusCode, resp.Header.Get("Retry-After")
		}
		t.Cleanup(func() { _ = ws.Close() })
		return http.StatusSwitchingProtocols, ""
	}
	for _, id := range []string{"an", "binh"} {
		if code, _ := join("busy", id); code != http.StatusSwitchingProtocols {
			t.Fatalf("%s's join within the room's burst: %d", id, code)
		}
	}
	code, retry := join("busy", "chi")
	if code != http.StatusTooManyRequests {
		t.Fatalf("third join to the room: %d, want 429", code)
	}
	if s, err := strconv.Atoi(retry); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q", retry)
	}
	if code, _ := join("calm", "chi"); code != http.StatusSwitchingProtocols {
		t.Errorf("join to another room: %d", code)
	}
}
