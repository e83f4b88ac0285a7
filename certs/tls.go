// Package certs gives a node its TLS certificate (from files reloaded when they change, from a
// private CA made for a closed network, or from an ACME CA) and the TLS settings it serves with.
package certs

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
)

// Source hands out the certificate for a TLS handshake.
type Source interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// ServerConfig is the node's TLS: versions 1.2 and 1.3 only, and for 1.2 only ECDHE key exchange
// with AEAD ciphers (1.3 has nothing else).
func ServerConfig(src Source, alpn ...string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: src.GetCertificate,
		// HTTP/1.1 only: signalling is websockets, which take over an HTTP/1.1 connection.
		NextProtos: append([]string{"http/1.1"}, alpn...),
	}
}

// HSTSMaxAge is how long browsers keep to HTTPS for the node's name once they have seen it.
const HSTSMaxAge = "31536000"

// HSTS tells browsers on HTTPS responses to use only HTTPS for this host from now on.
func HSTS(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age="+HSTSMaxAge)
		}
		h.ServeHTTP(w, r)
	})
}

// Redirect sends plain-HTTP requests to the same host and path over HTTPS on httpsPort, keeping
// the method and body (308).
func Redirect(httpsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "HTTPS only", http.StatusBadRequest)
			return
		}
		if httpsPort != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(httpsPort))
		} else if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
			host = "[" + host + "]"
		}
		// #nosec G710 -- the same host the client asked for, over HTTPS: a client can only send itself elsewhere
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}
