package srtpout

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/hop-meet/hop/sfu/udpbatch"
)

// started is a Sender in the direct mode with fixed keys, and a context that decrypts what it sends.
func started(t *testing.T, profile srtp.ProtectionProfile) (*Sender, *srtp.Context) {
	t.Helper()
	kl, _ := profile.KeyLen()
	sl, _ := profile.SaltLen()
	key, salt := bytes.Repeat([]byte{7}, kl), bytes.Repeat([]byte{9}, sl)
	s := NewSender()
	if err := s.StartKeys(Keys{Key: key, Salt: salt, Profile: profile}); err != nil || !s.Direct() {
		t.Fatalf("start: %v, direct %v", err, s.Direct())
	}
	rx, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		t.Fatal(err)
	}
	return s, rx
}

func header(seq uint16) *rtp.Header {
	h := &rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 3000 * uint32(seq), SSRC: 0x1234abcd, Marker: seq%2 == 0}
	_ = h.SetExtension(3, []byte{byte(seq >> 8), byte(seq)})
	return h
}

// Packets written inside a lane's scope are built in the batch itself, and those written outside
// one (retransmissions) through a buffer: the peer decrypts both to what was written, in order,
// across a sequence number wrap (the rollover counter).
func TestSenderPacketsDecrypt(t *testing.T) {
	for _, p := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAes128CmHmacSha1_80} {
		t.Run(p.String(), func(t *testing.T) {
			s, rx := started(t, p)
			conn, err := udpbatch.Listen("udp4", "127.0.0.1:0", 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetLanes(1)
			peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			dst := peer.LocalAddr().(*net.UDPAddr).AddrPort()
			s.SetRoute(&Route{UDP: conn, Lane: 0, Addr: dst})

			const n = 40
			start := uint16(65535 - n/2)
			payload := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i) }
			for i := 0; i < n; i++ {
				inLane := i%3 != 0
				if inLane {
					conn.Begin(0)
				}
				handled, _, err := s.WriteRTP(header(start+uint16(i)), payload(i))
				if inLane {
					conn.End(0)
				}
				if !handled || err != nil {
					t.Fatalf("packet %d: handled %v, %v", i, handled, err)
				}
			}
			if got := s.Sent(); got != n {
				t.Errorf("counted %d packets sent, want %d", got, n)
			}
			if conn.LanePackets() == 0 {
				t.Error("no packet was built in the lane's batch")
			}
			buf := make([]byte, 2048)
			_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			for i := 0; i < n; i++ {
				m, _, err := peer.ReadFromUDP(buf)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				var h rtp.Header
				plain, err := rx.DecryptRTP(nil, buf[:m], &h)
				if err != nil {
					t.Fatalf("packet %d: decrypt: %v", i, err)
				}
				want := header(start + uint16(i))
				if h.SequenceNumber != want.SequenceNumber || h.Timestamp != want.Timestamp || h.Marker != want.Marker ||
					!bytes.Equal(h.GetExtension(3), want.GetExtension(3)) {
					t.Errorf("packet %d: header %+v, want %+v", i, h, want)
				}
				if hl := h.MarshalSize(); !bytes.Equal(plain[hl:], payload(i)) {
					t.Errorf("packet %d: payload differs", i)
				}
			}
		})
	}
}

// Until the handshake is over packets are dropped; once pion sends, the caller is told to use it.
func TestSenderModes(t *testing.T) {
	s := NewSender()
	if handled, n, err := s.WriteRTP(header(1), []byte{1}); !handled || n != 0 || err != nil {
		t.Errorf("pending: %v %d %v, want dropped", handled, n, err)
	}
	if _, err := s.Start(&Handshake{}); err == nil {
		t.Error("Start without a handshake succeeded")
	}
	if handled, _, _ := s.WriteRTP(header(1), []byte{1}); handled {
		t.Error("without keys the packet was not left to pion")
	}
	// No route: dropped.
	d, _ := started(t, srtp.ProtectionProfileAeadAes128Gcm)
	if handled, n, _ := d.WriteRTP(header(1), []byte{1}); !handled || n != 0 {
		t.Errorf("no route: %v %d", handled, n)
	}
	// An empty route: encrypted (an AES-GCM tag longer), counted, dropped.
	d.SetRoute(&Route{})
	if handled, n, err := d.WriteRTP(header(1), []byte{1}); !handled || err != nil || n != header(1).MarshalSize()+1+16 || d.Sent() != 1 {
		t.Errorf("empty route: %v %d %v, sent %d", handled, n, err, d.Sent())
	}
	// Too large for any buffer: refused, nothing queued.
	conn, err := udpbatch.Listen("udp4", "127.0.0.1:0", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetLanes(1)
	d.SetRoute(&Route{UDP: conn, Lane: 0, Addr: netip.MustParseAddrPort("127.0.0.1:9")})
	conn.Begin(0)
	_, _, err = d.WriteRTP(header(2), make([]byte, udpbatch.SlotSize))
	conn.End(0)
	if err == nil {
		t.Error("an oversized packet was sent")
	}
	if conn.LanePackets() != 0 {
		t.Errorf("%d packets queued", conn.LanePackets())
	}
}

// Building and encrypting a packet in a lane's batch allocates nothing.
func TestSenderWriteAllocatesNothing(t *testing.T) {
	s, _ := started(t, srtp.ProtectionProfileAeadAes128Gcm)
	conn, err := udpbatch.Listen("udp4", "127.0.0.1:0", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetLanes(1)
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s.SetRoute(&Route{UDP: conn, Lane: 0, Addr: peer.LocalAddr().(*net.UDPAddr).AddrPort()})
	h, payload := header(1), make([]byte, 1000)
	for _, inLane := range []bool{true, false} {
		allocs := testing.AllocsPerRun(200, func() {
			h.SequenceNumber++
			if inLane {
				conn.Begin(0)
			}
			if _, _, err := s.WriteRTP(h, payload); err != nil {
				t.Fatal(err)
			}
			if inLane {
				conn.End(0)
			}
		})
		if allocs != 0 {
			t.Errorf("in lane %v: %.1f allocations per packet", inLane, allocs)
		}
	}
}

// BenchmarkSeal is the per-packet cost of building and encrypting a 1000-byte packet (AES-GCM).
func BenchmarkSeal(b *testing.B) {
	kl, _ := srtp.ProtectionProfileAeadAes128Gcm.KeyLen()
	sl, _ := srtp.ProtectionProfileAeadAes128Gcm.SaltLen()
	for _, own := range []bool{false, true} {
		name := "pion"
		if own {
			name = "gcm"
		}
		b.Run(name, func(b *testing.B) {
			s := NewSender()
			if err := s.StartKeys(Keys{Key: make([]byte, kl), Salt: make([]byte, sl), Profile: srtp.ProtectionProfileAeadAes128Gcm}); err != nil {
				b.Fatal(err)
			}
			var st *Stream
			if own {
				st = &Stream{}
			}
			h, payload, dst := header(1), make([]byte, 1000), make([]byte, 1500)
			b.SetBytes(1000)
			b.ReportAllocs()
			for b.Loop() {
				h.SequenceNumber++
				if _, err := s.seal(dst, st, h, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Sealed with the stream's own rollover state, a packet is what pion's context makes of it, and
// the peer decrypts every packet across a sequence wrap, a late one from before the wrap included.
func TestGCMSealsAsPionDoes(t *testing.T) {
	for _, profile := range []srtp.ProtectionProfile{srtp.ProtectionProfileAeadAes128Gcm, srtp.ProtectionProfileAeadAes256Gcm} {
		s, rx := started(t, profile)
		if s.gcm.Load() == nil {
			t.Fatalf("profile %v: no GCM sealer", profile)
		}
		kl, _ := profile.KeyLen()
		sl, _ := profile.SaltLen()
		ref, err := srtp.CreateContext(bytes.Repeat([]byte{7}, kl), bytes.Repeat([]byte{9}, sl), profile)
		if err != nil {
			t.Fatal(err)
		}
		st := &Stream{}
		payload := bytes.Repeat([]byte{0x5a}, 900)
		order := []uint16{65530, 65532, 65534, 65535, 0, 1, 2, 65531, 3, 65533}
		for i, seq := range order {
			h := header(seq)
			dst := make([]byte, 1500)
			n, err := s.seal(dst, st, h, payload)
			if err != nil {
				t.Fatal(err)
			}
			if i < 4 { // before the wrap, pion's context agrees byte for byte
				plain, _ := (&rtp.Packet{Header: *h, Payload: payload}).Marshal()
				want, err := ref.EncryptRTP(nil, plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(dst[:n], want) {
					t.Fatalf("profile %v seq %d: sealed differently from pion", profile, seq)
				}
			}
			out, err := rx.DecryptRTP(nil, dst[:n], nil)
			if err != nil {
				t.Fatalf("profile %v: packet %d (seq %d) does not decrypt: %v", profile, i, seq, err)
			}
			var got rtp.Packet
			if err := got.Unmarshal(out); err != nil || got.SequenceNumber != seq || !bytes.Equal(got.Payload, payload) {
				t.Fatalf("profile %v seq %d: decrypted to seq %d, %d bytes (%v)", profile, seq, got.SequenceNumber, len(got.Payload), err)
			}
		}
	}
}
