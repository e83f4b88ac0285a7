package sfu

import (
	"testing"

	"github.com/pion/rtcp"
)

// TestRTCPWalk reads a compound packet as a browser sends it (receiver report, then feedback) and
// finds each packet with its type, format and target.
func TestRTCPWalk(t *testing.T) {
	raw, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: 10}, {SSRC: 20}}},
		&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 20},
		&rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 10, Nacks: []rtcp.NackPair{{PacketID: 7, LostPackets: 0b101}}},
		&rtcp.FullIntraRequest{SenderSSRC: 1, FIR: []rtcp.FIREntry{{SSRC: 30}, {SSRC: 20}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		pt, format uint8
		media      uint32
	}
	var got []seen
	for b := raw; ; {
		pkt, rest, ok := nextRTCP(b)
		if !ok {
			if len(b) != 0 {
				t.Fatalf("%d bytes left unread", len(b))
			}
			break
		}
		b = rest
		pt, f := rtcpKind(pkt)
		got = append(got, seen{pt, f, mediaSSRC(pkt)})
		if pt == rtcpPSFB && f == fmtFIR && (!firFor(pkt, 20) || !firFor(pkt, 30) || firFor(pkt, 10)) {
			t.Fatalf("FIR targets misread")
		}
	}
	want := []seen{{201, 2, 10}, {rtcpPSFB, fmtPLI, 20}, {rtcpRTPFB, fmtNACK, 10}, {rtcpPSFB, fmtFIR, 0}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("packet %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

// FuzzRTCPWalk: any bytes are walked without a panic and without reading past a packet.
func FuzzRTCPWalk(f *testing.F) {
	raw, _ := rtcp.Marshal([]rtcp.Packet{
		&rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 20},
		&rtcp.FullIntraRequest{SenderSSRC: 1, FIR: []rtcp.FIREntry{{SSRC: 30}}},
	})
	f.Add(raw)
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		for {
			pkt, rest, ok := nextRTCP(b)
			if !ok {
				break
			}
			if len(pkt) < 4 || len(pkt)%4 != 0 {
				t.Fatalf("packet of %d bytes", len(pkt))
			}
			total += len(pkt)
			_, _ = rtcpKind(pkt)
			_ = mediaSSRC(pkt)
			_ = firFor(pkt, 1)
			b = rest
		}
		_ = total
	})
}
