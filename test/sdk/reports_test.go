package sdk_test

import (
	"sync"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/testkit"
)

// arrivals is what a subscriber got of one track: the newest packet's timestamp and arrival time,
// and the packets and payload octets so far.
type arrivals struct {
	ssrc    uint32
	clock   uint32
	lastTS  uint32
	lastAt  time.Time
	packets int
	octets  int
}

// reportWatch follows one received track, and hears of each sender report with what had arrived
// when it came.
type reportWatch struct {
	mu sync.Mutex
	arrivals
	reports chan reportSeen
}

type reportSeen struct {
	sr rtcp.SenderReport
	at time.Time
	arrivals
}

// ntpToTime undoes the NTP timestamp format (seconds since 1900, binary fraction).
func ntpToTime(ntp uint64) time.Time {
	const unixToNTP = 2_208_988_800
	sec := int64(ntp>>32) - unixToNTP
	nsec := int64((ntp & 0xffffffff) * 1e9 >> 32)
	return time.Unix(sec, nsec)
}

// A subscriber gets an RTCP sender report for each track once a second; its RTP time maps the
// stream's (rewritten) timestamps to the wall clock, which is what a browser lines audio and video
// up with, and its counts match what arrived.
func TestSenderReports(t *testing.T) {
	n := testkit.StartNode(t, nil)
	m := testkit.MakeMedia(t)
	watches := map[webrtc.RTPCodecType]*reportWatch{
		webrtc.RTPCodecTypeAudio: {reports: make(chan reportSeen, 64)},
		webrtc.RTPCodecTypeVideo: {reports: make(chan reportSeen, 64)},
	}
	connect(t, n, "reports", "viewer", connectOpts{autoSubscribe: true, callbacks: func(cb *lksdk.RoomCallback) {
		cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
			w := watches[tr.Kind()]
			pub.OnRTCP(func(p rtcp.Packet) {
				sr, ok := p.(*rtcp.SenderReport)
				if !ok {
					return
				}
				now := time.Now()
				w.mu.Lock()
				seen := reportSeen{sr: *sr, at: now, arrivals: w.arrivals}
				w.mu.Unlock()
				select {
				case w.reports <- seen:
				default:
				}
			})
			go func() {
				for {
					pkt, _, err := tr.ReadRTP()
					if err != nil {
						return
					}
					w.mu.Lock()
					w.ssrc, w.clock = pkt.SSRC, tr.Codec().ClockRate
					w.lastTS, w.lastAt = pkt.Timestamp, time.Now()
					w.packets++
					w.octets += len(pkt.Payload)
					w.mu.Unlock()
				}
			}()
		}
	}}, 1<<30)
	speaker := connect(t, n, "reports", "speaker", connectOpts{}, 1<<30)
	publishFile(t, speaker, m.Opus, 20*time.Millisecond, "mic")
	publishFile(t, speaker, m.VP8[360], 33*time.Millisecond, "camera")

	for kind, w := range watches {
		var prev time.Time
		for i := 0; i < 3; i++ {
			var s reportSeen
			select {
			case s = <-w.reports:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: sender report %d did not come within 10 s", kind, i+1)
			}
			if s.packets == 0 {
				i-- // a report for media that has not reached the reader yet
				continue
			}
			if s.sr.SSRC != s.ssrc {
				t.Errorf("%s: report for SSRC %d, media on %d", kind, s.sr.SSRC, s.ssrc)
			}
			wall := ntpToTime(s.sr.NTPTime)
			if d := s.at.Sub(wall); d < -50*time.Millisecond || d > 500*time.Millisecond {
				t.Errorf("%s: report's NTP time %v is %v before its arrival", kind, wall, d)
			}
			// The newest packet's timestamp carried forward to the report's NTP time.
			want := s.lastTS + uint32(wall.Sub(s.lastAt).Seconds()*float64(s.clock))
			if d := int32(s.sr.RTPTime - want); d < -int32(s.clock/10) || d > int32(s.clock/10) {
				t.Errorf("%s: report's RTP time %d is %.0f ms off the received stream's clock", kind, s.sr.RTPTime, float64(d)*1000/float64(s.clock))
			}
			if d := int(s.sr.PacketCount) - s.packets; d < -10-s.packets/10 || d > 10+s.packets/10 {
				t.Errorf("%s: report counts %d packets, %d arrived", kind, s.sr.PacketCount, s.packets)
			}
			if d := int(s.sr.OctetCount) - s.octets; d < -2000-s.octets/10 || d > 2000+s.octets/10 {
				t.Errorf("%s: report counts %d payload octets, %d arrived", kind, s.sr.OctetCount, s.octets)
			}
			if !prev.IsZero() {
				if gap := wall.Sub(prev); gap < 500*time.Millisecond || gap > 2*time.Second {
					t.Errorf("%s: reports %v apart, want about 1 s", kind, gap)
				}
			}
			prev = wall
			t.Logf("%s: SR %d: %d packets (%d arrived), RTP time %d, newest packet %d", kind, i+1, s.sr.PacketCount, s.packets, s.sr.RTPTime, s.lastTS)
		}
	}
}
