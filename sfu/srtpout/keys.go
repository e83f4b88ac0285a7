// Package srtpout sends a connection's RTP without pion's write stack: a packet is encrypted
// (with pion's SRTP context) straight into the socket's send batch and queued for the peer's
// address. pion's path — its SRTP session with a lock and a buffer pool, the DTLS demultiplexer's
// endpoint, the ICE connection, the UDP mux and a copy into the batch — cost more per packet
// than the encryption itself.
//
// pion exposes no SRTP keying material, so the keys are derived here from the connection's own
// DTLS handshake (RFC 5764 §4.2), watched through two hooks pion offers: the key log, which
// carries the client random and master secret, and the ServerHello hook, which carries the server
// random, the cipher suite and the SRTP profile chosen. Both are only seen when the node is the
// DTLS server, which the engine makes it on every connection it answers (and browsers and pion
// pick the client role when they answer the node's offers); on a connection where it is not, the
// keys are not known and pion's path is used.
package srtpout

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/srtp/v3"
)

// Handshake collects what one DTLS handshake reveals through pion's hooks. Install KeyLog and
// ServerHello on the connection's setting engine (see Hooks).
type Handshake struct {
	mu           sync.Mutex
	clientRandom []byte
	master       []byte
	serverRandom []byte
	suite        dtls.CipherSuiteID
	profile      dtls.SRTPProtectionProfile
}

// keyLogLabel is the NSS key log label of TLS 1.2 (and DTLS 1.2) master secrets.
const keyLogLabel = "CLIENT_RANDOM"

// Write takes key log lines ("CLIENT_RANDOM <client random> <master secret>", hex). It is the
// handshake's key log writer: the secret stays in memory, with the connection that uses the keys
// derived from it, and is dropped once they are.
func (h *Handshake) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(p, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[0]) != keyLogLabel {
			continue
		}
		cr, err1 := hex.DecodeString(string(f[1]))
		ms, err2 := hex.DecodeString(string(f[2]))
		if err1 != nil || err2 != nil || len(cr) != handshake.RandomLength {
			continue
		}
		h.mu.Lock()
		h.clientRandom, h.master = cr, ms
		h.mu.Unlock()
	}
	return len(p), nil
}

// ServerHello records the server random, cipher suite and SRTP profile of the ServerHello the
// node sends, and returns the message unchanged.
func (h *Handshake) ServerHello(m handshake.MessageServerHello) handshake.Message {
	r := m.Random.MarshalFixed()
	h.mu.Lock()
	h.serverRandom = r[:]
	if m.CipherSuiteID != nil {
		h.suite = dtls.CipherSuiteID(*m.CipherSuiteID)
	}
	for _, x := range m.Extensions {
		if e, ok := x.(*extension.UseSRTP); ok && len(e.ProtectionProfiles) == 1 {
			h.profile = e.ProtectionProfiles[0]
		}
	}
	h.mu.Unlock()
	return &m
}

// ErrNoKeys says the handshake did not show its keys (the node was not the DTLS server, or the
// handshake did not finish).
var ErrNoKeys = errors.New("srtpout: the DTLS handshake's keys are not known")

// Keys are the SRTP master key and salt of one direction, with their profile.
type Keys struct {
	Key, Salt []byte
	Profile   srtp.ProtectionProfile
}

// SessionKeys derives the SRTP keys of both directions: local, what the node sends (the DTLS
// server's write keys), and remote, what the peer sends. The master secret is forgotten.
func (h *Handshake) SessionKeys() (local, remote Keys, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.master == nil || h.serverRandom == nil || h.profile == 0 {
		return Keys{}, Keys{}, ErrNoKeys
	}
	hf, err := prfHash(h.suite)
	if err != nil {
		return Keys{}, Keys{}, err
	}
	profile, err := srtpProfile(h.profile)
	if err != nil {
		return Keys{}, Keys{}, err
	}
	cfg := srtp.Config{Profile: profile}
	ex := exporter{master: h.master, clientRandom: h.clientRandom, serverRandom: h.serverRandom, hash: hf}
	if err := cfg.ExtractSessionKeysFromDTLS(ex, false); err != nil {
		return Keys{}, Keys{}, fmt.Errorf("srtpout: export keys: %w", err)
	}
	clear(h.master)
	h.master = nil
	return Keys{Key: cfg.Keys.LocalMasterKey, Salt: cfg.Keys.LocalMasterSalt, Profile: profile},
		Keys{Key: cfg.Keys.RemoteMasterKey, Salt: cfg.Keys.RemoteMasterSalt, Profile: profile}, nil
}

// exporter is RFC 5705's keying material exporter for TLS 1.2 without a context value: the PRF of
// the master secret over the label, the client random and the server random.
type exporter struct {
	master, clientRandom, serverRandom []byte
	hash                               func() hash.Hash
}

func (e exporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("srtpout: exporter context not supported")
	}
	seed := make([]byte, 0, len(label)+len(e.clientRandom)+len(e.serverRandom))
	seed = append(append(append(seed, label...), e.clientRandom...), e.serverRandom...)
	return prf.PHash(e.master, seed, length, e.hash)
}

// prfHash is the TLS 1.2 PRF hash of a cipher suite: SHA-384 for the suites that name it, SHA-256
// for the others pion offers.
func prfHash(id dtls.CipherSuiteID) (func() hash.Hash, error) {
	switch id {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384, nil
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, dtls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, dtls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8:
		return sha256.New, nil
	}
	return nil, fmt.Errorf("srtpout: cipher suite %#04x not supported", uint16(id))
}

func srtpProfile(p dtls.SRTPProtectionProfile) (srtp.ProtectionProfile, error) {
	switch p {
	case dtls.SRTP_AEAD_AES_128_GCM:
		return srtp.ProtectionProfileAeadAes128Gcm, nil
	case dtls.SRTP_AEAD_AES_256_GCM:
		return srtp.ProtectionProfileAeadAes256Gcm, nil
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		return srtp.ProtectionProfileAes128CmHmacSha1_80, nil
	case dtls.SRTP_AES128_CM_HMAC_SHA1_32:
		return srtp.ProtectionProfileAes128CmHmacSha1_32, nil
	}
	return 0, fmt.Errorf("srtpout: SRTP profile %#04x not supported", uint16(p))
}
