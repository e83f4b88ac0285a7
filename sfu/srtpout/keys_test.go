package srtpout

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/srtp/v3"
)

// runHandshake runs a real DTLS handshake between two pion endpoints on loopback, the server side
// watched by hs (or the client side, with watchClient), and returns the client's connection state
// once both are done.
func runHandshake(t *testing.T, hs *Handshake, suite dtls.CipherSuiteID, profiles []dtls.SRTPProtectionProfile, watchClient bool) dtls.State {
	t.Helper()
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	conf := func() *dtls.Config {
		return &dtls.Config{
			Certificates:           []tls.Certificate{cert},
			InsecureSkipVerify:     true,
			CipherSuites:           []dtls.CipherSuiteID{suite},
			SRTPProtectionProfiles: profiles,
			ExtendedMasterSecret:   dtls.RequireExtendedMasterSecret,
		}
	}
	sc, cc := conf(), conf()
	if watchClient {
		cc.KeyLogWriter = hs
	} else {
		sc.KeyLogWriter, sc.ServerHelloMessageHook = hs, hs.ServerHello
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 1)
	go func() {
		s, err := dtls.Server(a, b.LocalAddr(), sc)
		if err == nil {
			err = s.HandshakeContext(ctx)
			t.Cleanup(func() { _ = s.Close() })
		}
		errs <- err
	}()
	c, err := dtls.Client(b, a.LocalAddr(), cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.HandshakeContext(ctx); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	st, ok := c.ConnectionState()
	if !ok {
		t.Fatal("no client connection state")
	}
	return st
}

// The keys derived from what the hooks saw are those pion's own exporter gives the client, each
// direction swapped, for each PRF hash and SRTP profile.
func TestSessionKeysMatchPionExporter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		suite   dtls.CipherSuiteID
		profile dtls.SRTPProtectionProfile
		srtp    srtp.ProtectionProfile
	}{
		{"aes128gcm-sha256/aead-aes128gcm", dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.SRTP_AEAD_AES_128_GCM, srtp.ProtectionProfileAeadAes128Gcm},
		{"aes256gcm-sha384/aead-aes256gcm", dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.SRTP_AEAD_AES_256_GCM, srtp.ProtectionProfileAeadAes256Gcm},
		{"aes128gcm-sha256/aes128cm-sha1-80", dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, dtls.SRTP_AES128_CM_HMAC_SHA1_80, srtp.ProtectionProfileAes128CmHmacSha1_80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hs Handshake
			st := runHandshake(t, &hs, tc.suite, []dtls.SRTPProtectionProfile{tc.profile}, false)
			want := srtp.Config{Profile: tc.srtp}
			if err := want.ExtractSessionKeysFromDTLS(&st, true); err != nil {
				t.Fatal(err)
			}
			got, remote, err := hs.SessionKeys()
			if err != nil {
				t.Fatal(err)
			}
			if got.Profile != tc.srtp || remote.Profile != tc.srtp {
				t.Errorf("profiles %v %v, want %v", got.Profile, remote.Profile, tc.srtp)
			}
			if !bytes.Equal(got.Key, want.Keys.RemoteMasterKey) || !bytes.Equal(got.Salt, want.Keys.RemoteMasterSalt) {
				t.Errorf("key %x salt %x, want %x %x", got.Key, got.Salt, want.Keys.RemoteMasterKey, want.Keys.RemoteMasterSalt)
			}
			if !bytes.Equal(remote.Key, want.Keys.LocalMasterKey) || !bytes.Equal(remote.Salt, want.Keys.LocalMasterSalt) {
				t.Errorf("remote key %x salt %x, want the client's %x %x", remote.Key, remote.Salt, want.Keys.LocalMasterKey, want.Keys.LocalMasterSalt)
			}
			if hs.master != nil {
				t.Error("the master secret is kept after the keys were derived")
			}
			if _, _, err := hs.SessionKeys(); !errors.Is(err, ErrNoKeys) {
				t.Errorf("second SessionKeys: %v, want ErrNoKeys", err)
			}
		})
	}
}

// On the client side of a handshake the server random is never seen: no keys, so pion sends.
func TestSessionKeysUnknownAsClient(t *testing.T) {
	var hs Handshake
	runHandshake(t, &hs, dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM}, true)
	if hs.master == nil {
		t.Fatal("the key log was not written")
	}
	if _, _, err := hs.SessionKeys(); !errors.Is(err, ErrNoKeys) {
		t.Errorf("SessionKeys as the client: %v, want ErrNoKeys", err)
	}
	s := NewSender()
	if _, err := s.Start(&hs); err == nil || s.Direct() {
		t.Errorf("Start without keys: err %v, direct %v", err, s.Direct())
	}
}

// Key log lines that are not TLS 1.2 master secrets, or malformed, are ignored.
func TestKeyLogIgnoresOtherLines(t *testing.T) {
	var hs Handshake
	for _, line := range []string{
		"", "garbage", "CLIENT_RANDOM zz 00", "CLIENT_RANDOM 0011 2233",
		"SERVER_HANDSHAKE_TRAFFIC_SECRET " + string(bytes.Repeat([]byte("ab"), 32)) + " 00",
	} {
		if n, err := hs.Write([]byte(line + "\n")); err != nil || n != len(line)+1 {
			t.Errorf("Write(%q) = %d, %v", line, n, err)
		}
	}
	if hs.master != nil || hs.clientRandom != nil {
		t.Errorf("a malformed line was taken: random %x secret %x", hs.clientRandom, hs.master)
	}
}
