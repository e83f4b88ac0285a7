package sfu

import (
	"log/slog"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/bwe"
	"github.com/hop-meet/hop/sfu/packetcache"
)

// A publisher's sender report, marshalled by pion and read the way the node reads RTCP (both the
// fast path and pion's tap end in Transport.onRTCP), reaches the track's layer it names.
func TestSenderClockFromSenderReport(t *testing.T) {
	tr := &Transport{log: slog.Default(), est: bwe.New(bwe.DefaultConfig, nil)}
	tr.in.t = tr
	track := NewTrack(TrackParams{ID: "TR_sr", PublisherID: "PA_sr", Kind: webrtc.RTPCodecTypeVideo})
	defer func() { track.receivers[2].Store(nil); track.Close() }() // the receiver has no pion stream to close
	track.codec.Store(&webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}})
	r := &Receiver{track: track, layer: 2, ssrc: 4242, cache: packetcache.New(64), in: &tr.in, done: make(chan struct{})}
	track.receivers[2].Store(r)
	tr.in.addSender(r)

	if _, _, _, ok := track.SenderClock(2); ok {
		t.Fatal("a sender clock before any report")
	}
	at := time.Date(2026, 12, 7, 20, 0, 0, 123456789, time.UTC)
	sr := &rtcp.SenderReport{SSRC: 4242, NTPTime: ntpTime(at), RTPTime: 0xfffffff0, PacketCount: 10, OctetCount: 1000,
		Reports: []rtcp.ReceptionReport{{SSRC: 1}}}
	other := &rtcp.SenderReport{SSRC: 99, NTPTime: ntpTime(at.Add(time.Hour)), RTPTime: 5}
	compound, err := rtcp.Marshal([]rtcp.Packet{other, sr, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 4242,
		Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "x"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.in.rtcp(compound) {
		t.Fatal("compound with a sender report not taken")
	}
	ntp, ts, rate, ok := track.SenderClock(2)
	if !ok || ts != 0xfffffff0 || rate != 90000 || ntp.Sub(at).Abs() > time.Nanosecond {
		t.Fatalf("sender clock %v %#x %d %v, want %v %#x 90000", ntp, ts, rate, ok, at, uint32(0xfffffff0))
	}
	if _, _, _, ok := track.SenderClock(0); ok {
		t.Fatal("a sender clock for a layer with no receiver")
	}

	// Once the receiver is gone, reports for its SSRC are dropped.
	tr.in.removeSender(r)
	later := *sr
	later.RTPTime = 7
	b, _ := later.Marshal()
	tr.onRTCP(b)
	if _, ts, _, _ := track.SenderClock(2); ts != 0xfffffff0 {
		t.Fatalf("a removed receiver took a report: rtp %d", ts)
	}
}

// Reading a report allocates nothing beyond the kept pair: the parse is in place.
func TestParseSenderReportInPlace(t *testing.T) {
	b, _ := (&rtcp.SenderReport{SSRC: 1, NTPTime: ntpTime(time.Unix(1, 5e8)), RTPTime: 3}).Marshal()
	if n := testing.AllocsPerRun(100, func() { _, _, _ = parseSenderReport(b) }); n != 0 {
		t.Fatalf("%v allocations per parse", n)
	}
	if _, c, ok := parseSenderReport(b); !ok || !c.ntp.Equal(time.Unix(1, 5e8)) || c.rtp != 3 {
		t.Fatalf("parsed %v %d %v", c.ntp, c.rtp, ok)
	}
	if _, _, ok := parseSenderReport(b[:20]); ok {
		t.Fatal("a truncated report parsed")
	}
}
