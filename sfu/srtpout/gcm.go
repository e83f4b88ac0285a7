package srtpout

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/pion/srtp/v3"
)

// gcm seals RTP with the AEAD_AES_128_GCM and AEAD_AES_256_GCM profiles (RFC 7714) without pion's
// context. pion's EncryptRTP looks the stream's state up in a map and parses the header back out
// of the packet just marshalled, under a lock (its context is not safe for concurrent use): that
// cost as much as AES-GCM itself. Here the caller brings the stream's rollover state (Stream) and
// the header length, and the AEAD is safe for concurrent use, so nothing is locked.
type gcm struct {
	aead cipher.AEAD
	salt [12]byte
}

// SRTP key derivation labels (RFC 3711 §4.3.2).
const (
	labelSRTPEncryption = 0x00
	labelSRTPSalt       = 0x02
)

// newGCM makes the sealer for k, or returns nil for a profile it does not handle.
func newGCM(k Keys) (*gcm, error) {
	if k.Profile != srtp.ProtectionProfileAeadAes128Gcm && k.Profile != srtp.ProtectionProfileAeadAes256Gcm {
		return nil, nil
	}
	if len(k.Salt) != 12 || (len(k.Key) != 16 && len(k.Key) != 32) {
		return nil, fmt.Errorf("srtpout: AES-GCM key of %d bytes, salt of %d", len(k.Key), len(k.Salt))
	}
	key, err := deriveKey(labelSRTPEncryption, k.Key, k.Salt, len(k.Key))
	if err != nil {
		return nil, err
	}
	salt, err := deriveKey(labelSRTPSalt, k.Key, k.Salt, 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	g := &gcm{aead: aead}
	copy(g.salt[:], salt)
	return g, nil
}

// deriveKey is SRTP's AES-CM key derivation with a key derivation rate of zero (RFC 3711 §4.3.3):
// the master salt, the label XORed into its eighth byte, encrypted in counter mode with the master
// key.
func deriveKey(label byte, masterKey, masterSalt []byte, n int) ([]byte, error) {
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, err
	}
	var in [16]byte
	copy(in[:], masterSalt)
	in[7] ^= label
	out := make([]byte, (n+15)/16*16)
	for i := 0; i*16 < n; i++ {
		binary.BigEndian.PutUint16(in[14:], uint16(i))
		block.Encrypt(out[i*16:], in[:])
	}
	return out[:n], nil
}

// seal encrypts the packet of st in dst[:n], whose header is dst[:hl], in place, appending the
// tag, and returns the sealed length; dst must have room for the tag.
func (g *gcm) seal(st *Stream, dst []byte, hl, n int, ssrc uint32, seq uint16) int {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ssrc != ssrc { // the stream was renumbered: its sequence starts again
		st.ssrc, st.started, st.roc = ssrc, false, 0
	}
	// The nonce lives in st: a local array would escape to the heap through the AEAD interface.
	iv := &st.iv
	binary.BigEndian.PutUint16(iv[0:], 0)
	binary.BigEndian.PutUint32(iv[2:], ssrc)
	binary.BigEndian.PutUint32(iv[6:], st.rollover(seq))
	binary.BigEndian.PutUint16(iv[10:], seq)
	for i := range iv {
		iv[i] ^= g.salt[i]
	}
	out := g.aead.Seal(dst[hl:hl], iv[:], dst[hl:n], dst[:hl])
	return hl + len(out)
}

// Stream is what the SRTP index of one sent stream (an SSRC) needs besides the sequence number: its
// rollover counter, carried from packet to packet. Its owner (a downtrack) writes the stream with
// it; any goroutine may.
type Stream struct {
	mu      sync.Mutex // guards what follows
	ssrc    uint32
	roc     uint32
	last    uint16
	started bool
	iv      [12]byte
}

// rollover returns the rollover counter of seq: that of the newest packet, one more past a wrap,
// one less for a packet from before the last wrap (a retransmission). st.mu is held.
func (st *Stream) rollover(seq uint16) uint32 {
	if !st.started {
		st.started, st.last = true, seq
		return st.roc
	}
	if d := int16(seq - st.last); d > 0 {
		if seq < st.last {
			st.roc++
		}
		st.last = seq
		return st.roc
	}
	if seq > st.last && st.roc > 0 {
		return st.roc - 1
	}
	return st.roc
}
