package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: not PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInitLANIssuesForNamesAndIPs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	names := []string{"hop.lan", "meet.office.local"}
	ips := []net.IP{net.ParseIP("192.168.1.20"), net.ParseIP("fd00::20")}
	lan, err := InitLAN(dir, names, ips)
	if err != nil {
		t.Fatal(err)
	}
	if lan.CAReused {
		t.Error("a fresh directory reported a reused CA")
	}
	roots, err := LoadRoots(lan.CACert)
	if err != nil {
		t.Fatal(err)
	}
	leaf := readCert(t, lan.ServerCert)
	for _, host := range []string{"hop.lan", "meet.office.local", "192.168.1.20", "fd00::20"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	for _, host := range []string{"other.lan", "192.168.1.21", "hop.lan.evil.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err == nil {
			t.Errorf("certificate verified for %s, which was not asked for", host)
		}
	}
	// A system trust store does not vouch for it.
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "hop.lan"}); err == nil {
		t.Error("verified without the private CA")
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("server key is %v, want ECDSA P-256", leaf.PublicKeyAlgorithm)
	}
	if d := time.Until(leaf.NotAfter); d > ServerValidity || d < ServerValidity-2*time.Hour {
		t.Errorf("server certificate valid for %v more", d)
	}
	for _, f := range []string{CAKeyFile, ServerKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if _, err := tls.LoadX509KeyPair(lan.ServerCert, lan.ServerKey); err != nil {
		t.Errorf("server pair: %v", err)
	}

	// Run again for another name: same CA, so devices that trust it need nothing new.
	caBefore, _ := os.ReadFile(lan.CACert)
	again, err := InitLAN(dir, []string{"hop2.lan"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	caAfter, _ := os.ReadFile(again.CACert)
	if !again.CAReused || string(caBefore) != string(caAfter) {
		t.Fatal("second run replaced the CA")
	}
	if _, err := readCert(t, again.ServerCert).Verify(x509.VerifyOptions{Roots: roots, DNSName: "hop2.lan"}); err != nil {
		t.Errorf("second certificate against the first CA: %v", err)
	}
}

func TestInitLANRefusesNothingToCertify(t *testing.T) {
	if _, err := InitLAN(t.TempDir(), nil, nil); err == nil {
		t.Fatal("InitLAN without names or IPs succeeded")
	}
}

// Serve with Files, replace the files, and a new handshake gets the new certificate.
func TestFilesReloadReplacedCertificate(t *testing.T) {
	dir := t.TempDir()
	first, err := InitLAN(dir, []string{"hop.lan"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	files, err := LoadFiles(first.ServerCert, first.ServerKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", files.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	roots, err := LoadRoots(first.CACert)
	if err != nil {
		t.Fatal(err)
	}
	served := func() *x509.Certificate {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "hop.lan"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	want1 := readCert(t, first.ServerCert)
	if got := served(); got.SerialNumber.Cmp(want1.SerialNumber) != 0 {
		t.Fatalf("served serial %v, want %v", got.SerialNumber, want1.SerialNumber)
	}

	second, err := InitLAN(dir, []string{"hop.lan"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want2 := readCert(t, second.ServerCert)
	if got := served(); got.SerialNumber.Cmp(want2.SerialNumber) != 0 {
		t.Fatalf("after replacing the files: served serial %v, want the new %v (old %v)", got.SerialNumber, want2.SerialNumber, want1.SerialNumber)
	}

	// A broken pair keeps the last good certificate in service.
	if err := os.WriteFile(second.ServerKey, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := served(); got.SerialNumber.Cmp(want2.SerialNumber) != 0 {
		t.Fatalf("with a broken key file: served serial %v, want %v", got.SerialNumber, want2.SerialNumber)
	}
}
