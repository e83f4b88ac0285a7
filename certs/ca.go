package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files InitLAN writes in its directory.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Validity of what InitLAN makes. A server certificate may last at most 825 days for Apple's
// systems to accept it, even from a CA the user installed.
const (
	CAValidity     = 10 * 365 * 24 * time.Hour
	ServerValidity = 825 * 24 * time.Hour
)

// LAN is the result of InitLAN: paths of what it wrote.
type LAN struct {
	Dir                           string
	CACert, ServerCert, ServerKey string
	CAReused                      bool
	ServerNotAfter                time.Time
	Names                         []string
	IPs                           []net.IP
}

// InitLAN makes a private CA in dir (or reuses the one already there, so that devices which
// trust it keep doing so) and issues from it a server certificate for names and ips, for a
// closed network that no public CA can vouch for. Keys are ECDSA P-256; private keys are 0600.
func InitLAN(dir string, names []string, ips []net.IP) (*LAN, error) {
	if len(names) == 0 && len(ips) == 0 {
		return nil, errors.New("certs: give at least one name or IP address the server is reached by")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	out := &LAN{
		Dir:        dir,
		CACert:     filepath.Join(dir, CACertFile),
		ServerCert: filepath.Join(dir, ServerCertFile),
		ServerKey:  filepath.Join(dir, ServerKeyFile),
		Names:      names,
		IPs:        ips,
	}
	caCert, caKey, err := loadCA(dir)
	switch {
	case err == nil:
		out.CAReused = true
	case errors.Is(err, fs.ErrNotExist):
		if caCert, caKey, err = newCA(dir); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	cn := "hop"
	if len(names) > 0 {
		cn = names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour), // clocks of the devices may lag
		NotAfter:              now.Add(ServerValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	// Between the two renames a reloading node sees a pair that does not match and keeps its
	// previous certificate (see Files).
	if err := writeKey(out.ServerKey, key); err != nil {
		return nil, err
	}
	if err := writePEM(out.ServerCert, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	out.ServerNotAfter = tmpl.NotAfter
	return out, nil
}

func newCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Hop private CA " + host, Organization: []string{"Hop"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(filepath.Join(dir, CAKeyFile), key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(filepath.Join(dir, CACertFile), "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// loadCA reads the CA in dir; fs.ErrNotExist when there is none.
func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile)) // #nosec G304 -- the operator's --dir
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile)) // #nosec G304 -- the operator's --dir
	if err != nil {
		return nil, nil, fmt.Errorf("certs: %s without its key: %w", CACertFile, err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("certs: %s or %s in %s is not PEM", CACertFile, CAKeyFile, dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("certs: %s does not belong to %s", CAKeyFile, CACertFile)
	}
	if !cert.IsCA {
		return nil, nil, fmt.Errorf("certs: %s is not a CA certificate", CACertFile)
	}
	return cert, key, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

// writePEM replaces path in one rename, so a reader sees the old file or the new one.
func writePEM(path, typ string, der []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := pem.Encode(tmp, &pem.Block{Type: typ, Bytes: der}); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
