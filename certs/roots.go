package certs

import (
	"crypto/x509"
	"fmt"
	"os"
)

// LoadRoots reads PEM certificates to trust as roots.
func LoadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- a path from the operator's configuration
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}
