package recorder

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// An RTP time maps onto the sender's clock through its report, across the 32-bit wrap and for
// frames before the report as well as after.
func TestSenderTime(t *testing.T) {
	ntp := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		srTS, ts, rate uint32
		want           time.Duration
	}{
		"same":              {1000, 1000, 90000, 0},
		"after":             {1000, 1000 + 9000, 90000, 100 * time.Millisecond},
		"before":            {1000, 1000 - 4500 + 1<<32, 90000, -50 * time.Millisecond},
		"after the wrap":    {0xffffff00, 0x00000200, 90000, 768 * time.Second / 90000},
		"before, wrapped":   {0x00000100, 0xfffffd00, 48000, -1024 * time.Second / 48000},
		"audio, 2 s later":  {7, 7 + 96000, 48000, 2 * time.Second},
		"video, 10 s early": {5, 5 - 900000 + 1<<32, 90000, -10 * time.Second},
	} {
		if got := senderTime(ntp, tc.srTS, tc.rate, tc.ts).Sub(ntp); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

// clockedSource is a VP8 source whose publisher has (once ok is set) sent a sender report.
type clockedSource struct {
	vp8Source
	ok  atomic.Bool
	ntp time.Time
	rtp uint32
}

func (s *clockedSource) SenderClock(int8) (time.Time, uint32, uint32, bool) {
	return s.ntp, s.rtp, 90000, s.ok.Load()
}

// The writer finds its first frame's time on the sender's clock, also when the report comes only
// after the first frame; without a usable report the start stays the arrival.
func TestTrackWriterSenderStart(t *testing.T) {
	ntp := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		src       Source
		late, use bool
	}{
		"report first": {&clockedSource{ntp: ntp, rtp: 9000}, false, true},
		"report later": {&clockedSource{ntp: ntp, rtp: 9000}, true, true},
		"no report":    {vp8Source{}, false, false},
		// Another stream's report: its RTP time puts the first frame an hour before the report.
		"another stream": {&clockedSource{ntp: ntp, rtp: 9000 + 3600*90000}, false, false},
	} {
		cs, clocked := tc.src.(*clockedSource)
		if clocked && !tc.late {
			cs.ok.Store(true)
		}
		w, err := NewTrackWriter(tc.src, TrackParams{Path: filepath.Join(t.TempDir(), "v")})
		if err != nil {
			t.Fatal(err)
		}
		w.LayersChanged([3]bool{true})
		pkts := vp8Packets(3 * 30)
		base := time.Now().UnixNano()
		for i := range pkts {
			pkts[i].ArrivalNanos += base
			w.WritePacket(0, &pkts[i], 0, nil)
		}
		if clocked && tc.late {
			cs.ok.Store(true)
		}
		res := w.Stop()
		if !res.ArrivalStart.Equal(time.Unix(0, base)) || !res.Start.Equal(res.ArrivalStart) || res.StartFrom != StartArrival {
			t.Errorf("%s: start %v (%s), arrival %v: want the first frame's arrival", name, res.Start, res.StartFrom, res.ArrivalStart)
		}
		switch {
		case !tc.use && res.SenderStart != nil:
			t.Errorf("%s: a sender start %v without a usable report", name, *res.SenderStart)
		case tc.use && (res.SenderStart == nil || !res.SenderStart.Equal(ntp.Add(-100*time.Millisecond))):
			// The first frame is RTP time 0, 9000 ticks (100 ms) before the report's.
			t.Errorf("%s: sender start %v, want %v", name, res.SenderStart, ntp.Add(-100*time.Millisecond))
		}
	}
}

// A participant's tracks keep their sender's relative timing and the least-delayed one its
// arrival; a track without a report keeps its arrival; another participant, and the same one
// back on another device, get their own correction.
func TestAlignSenders(t *testing.T) {
	node := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return node.Add(time.Duration(ms) * time.Millisecond) }
	ptr := func(t time.Time) *time.Time { return &t }
	// an's clock runs 5 s behind the node's; her video pipeline is 30 ms slower than her audio.
	// binh's clock is 2 s ahead; his video has no report. an comes back at 60 s on a device whose
	// clock is 1 h ahead.
	track := func(who, sid string, published, arrival int, sender *time.Time) *ManifestTrack {
		return &ManifestTrack{SID: sid, Participant: who, Published: at(published),
			TrackResult: TrackResult{Start: at(arrival), ArrivalStart: at(arrival), SenderStart: sender}}
	}
	m := Manifest{
		Participants: map[string]*ManifestParticipant{
			"an":   {Identity: "an", Sessions: []Interval{{Start: at(0), End: ptr(at(50000))}, {Start: at(60000)}}},
			"binh": {Identity: "binh", Sessions: []Interval{{Start: at(0)}}},
		},
		Tracks: []*ManifestTrack{
			// Captured at the same instant (sender 995.000 s); audio arrives after 40 ms, video 70 ms.
			track("an", "a-audio", 10, 1040, ptr(at(1000-5000))),
			track("an", "a-video", 10, 1070, ptr(at(1000-5000))),
			track("binh", "b-audio", 20, 2050, ptr(at(2000+2000))),
			track("binh", "b-video", 20, 2300, nil),
			// Back on another device: video arrives 25 ms after being taken, audio 60 ms.
			track("an", "a2-audio", 60010, 61060, ptr(at(61000+3600000))),
			track("an", "a2-video", 60010, 61025, ptr(at(61000+3600000))),
		},
	}
	for range 2 { // it may run again on the same manifest
		m.alignSenders()
	}
	want := map[string]struct {
		start int
		from  string
	}{
		"a-audio": {1040, StartSenderReport}, "a-video": {1040, StartSenderReport},
		"b-audio": {2050, StartSenderReport}, "b-video": {2300, StartArrival},
		"a2-audio": {61025, StartSenderReport}, "a2-video": {61025, StartSenderReport},
	}
	for _, tr := range m.Tracks {
		w := want[tr.SID]
		if !tr.Start.Equal(at(w.start)) || tr.StartFrom != w.from {
			t.Errorf("%s: start %v (%s), want %v (%s)", tr.SID, tr.Start.Sub(node), tr.StartFrom, at(w.start).Sub(node), w.from)
		}
	}
}
