package egress

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"
)

// proxyClient fetches another node's local recording files. Reaching the node and its answer's
// headers are bounded; the body streams for as long as the caller reads it.
func proxyClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil // nodes reach each other directly, never through the environment's proxy
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 10 * time.Second
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Headers a download carries each way: the caller's token (the node checks it again), ranges
// (a player seeks, a browser resumes), and the file's own description.
var (
	proxiedRequestHeaders  = []string{"Authorization", "Range", "If-Range", "If-Modified-Since", "If-None-Match"}
	proxiedResponseHeaders = []string{"Content-Type", "Content-Length", "Content-Range", "Content-Disposition",
		"Accept-Ranges", "Last-Modified", "Etag"}
)

// proxy answers the download with the same request to node (its HTTP base URL), which has the
// recording on its own disk. Streamed: a copy's buffer at a time, never the whole file.
func (h recordingsHandler) proxy(w http.ResponseWriter, r *http.Request, node string) {
	// #nosec G704 -- node is a cluster node's URL from the registry, the path this request's own
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, node+r.URL.EscapedPath(), nil)
	if err != nil {
		fail(w, http.StatusInternalServerError, "internal")
		return
	}
	for _, k := range proxiedRequestHeaders {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set(forwardedHeader, "1")
	c := h.client
	if req.URL.Scheme == "https" {
		// The node's certificate names the host clients reach the cluster by (one name behind
		// the load balancer), not the node's address.
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		t := h.client.Transport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		defer t.CloseIdleConnections()
		c = &http.Client{Transport: t, CheckRedirect: h.client.CheckRedirect}
	}
	resp, err := c.Do(req) // #nosec G704 -- as above
	if err != nil {
		h.s.log.Warn("fetching a recording's file from its node failed", "node", node, "err", err)
		fail(w, http.StatusBadGateway, "node_unavailable")
		return
	}
	defer resp.Body.Close()
	for _, k := range proxiedResponseHeaders {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		h.s.log.Debug("a proxied download ended early", "node", node, "err", err)
	}
}
