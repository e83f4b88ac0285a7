package tls_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// sClient runs `openssl s_client` against addr with args and reports whether the handshake
// completed, with openssl's output.
func sClient(t *testing.T, addr string, args ...string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-connect", addr, "-servername", "hop.lan"}, args...)...)
	cmd.Stdin = strings.NewReader("") // EOF right after the handshake
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("openssl %v: timed out", args)
	}
	return err == nil && strings.Contains(string(out), "Cipher is "), string(out)
}

// The node speaks TLS 1.2 and 1.3 only, and 1.2 only with ECDHE and AEAD ciphers.
func TestTLSVersionsAndCiphers(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (Debian package openssl)")
	}
	n, _, _ := lanNode(t)
	addr := n.Addr().String()
	// OpenSSL 3 will not offer TLS 1.0/1.1 or old ciphers at its default security level:
	// level 0 makes the client offer them, so a refusal is the server's.
	old := "DEFAULT:@SECLEVEL=0"
	tests := []struct {
		name   string
		args   []string
		accept bool
		// want is in the output: the negotiated protocol, or the server's alert.
		want string
	}{
		{"TLS 1.0", []string{"-tls1", "-cipher", old}, false, "alert protocol version"},
		{"TLS 1.1", []string{"-tls1_1", "-cipher", old}, false, "alert protocol version"},
		{"TLS 1.2", []string{"-tls1_2"}, true, "Protocol  : TLSv1.2"},
		{"TLS 1.3", []string{"-tls1_3"}, true, "New, TLSv1.3"},
		{"1.2 AES-GCM", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"}, true, "ECDHE-ECDSA-AES128-GCM-SHA256"},
		{"1.2 AES-256-GCM", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"}, true, "ECDHE-ECDSA-AES256-GCM-SHA384"},
		{"1.2 ChaCha20", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"}, true, "ECDHE-ECDSA-CHACHA20-POLY1305"},
		{"1.2 ECDHE with CBC", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"}, false, "alert handshake failure"},
		{"1.2 ECDHE with CBC-SHA256", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:@SECLEVEL=0"}, false, "alert handshake failure"},
		{"1.2 RSA key exchange", []string{"-tls1_2", "-cipher", "AES128-SHA:AES128-GCM-SHA256:@SECLEVEL=0"}, false, "alert handshake failure"},
		{"1.2 3DES", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-DES-CBC3-SHA:DES-CBC3-SHA:@SECLEVEL=0"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, out := sClient(t, addr, tt.args...)
			if ok != tt.accept {
				t.Fatalf("handshake completed: %v, want %v\n%s", ok, tt.accept, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Fatalf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}
