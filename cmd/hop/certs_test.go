package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertsInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	var out bytes.Buffer
	if err := runCerts([]string{"init", "--dir", dir, "--name", "hop.lan", "--ip", "192.168.1.20,127.0.0.1"}, &out); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, h := range []string{"hop.lan", "192.168.1.20", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: h}); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	// The guide: Vietnamese first, every platform, then English.
	s := out.String()
	vi, en := strings.Index(s, "Tiếng Việt"), strings.Index(s, "English")
	if vi < 0 || en < vi {
		t.Errorf("guide not Vietnamese then English:\n%s", s)
	}
	for _, p := range []string{"Windows", "macOS", "Linux", "Android", "iOS"} {
		if strings.Count(s, p) < 2 {
			t.Errorf("guide lacks %s in one of its languages", p)
		}
	}
	if !strings.Contains(s, "--tls-cert "+filepath.Join(dir, "server.crt")) {
		t.Errorf("guide does not say how to serve with the certificate:\n%s", s)
	}

	// Bad input is refused, not half-written.
	for _, args := range [][]string{{"init", "--dir", t.TempDir()}, {"init", "--ip", "hop.lan"}, {"init", "--name", "10.0.0.1"}, {"make"}} {
		if err := runCerts(args, &out); err == nil {
			t.Errorf("runCerts %v succeeded", args)
		}
	}
}
