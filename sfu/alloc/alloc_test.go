package alloc

import "testing"

// simulcast rates for a 720p camera: 180p, 360p, 720p with three temporal layers each.
var camera = [Spatial][Temporal]uint64{
	{60_000, 90_000, 150_000},
	{200_000, 300_000, 500_000},
	{800_000, 1_200_000, 2_000_000},
}

func cam(prio int, maxS int8) Track {
	return Track{Priority: prio, MaxSpatial: maxS, MaxTemporal: 3, Rates: camera}
}

func TestEverythingFits(t *testing.T) {
	d, used, deficit := Allocate(10_000_000, []Track{cam(1, 2), cam(1, 1)})
	if d[0].Spatial != 2 || d[0].Temporal != 2 || d[1].Spatial != 1 || d[1].Temporal != 2 {
		t.Fatalf("decisions %+v", d)
	}
	if used != 2_500_000 || deficit != 0 {
		t.Fatalf("used %d deficit %d", used, deficit)
	}
}

func TestTightBudgetLowersLayers(t *testing.T) {
	d, used, deficit := Allocate(500_000, []Track{cam(1, 2)})
	if d[0].Spatial != 1 || d[0].Temporal != 2 || d[0].Paused {
		t.Fatalf("500 kbit/s: %+v, want 360p full frame rate", d[0])
	}
	if used != 500_000 || deficit != 1_500_000 {
		t.Fatalf("used %d deficit %d", used, deficit)
	}
	// Between layers, temporal steps use what is left.
	d, _, _ = Allocate(400_000, []Track{cam(1, 2)})
	if d[0].Spatial != 1 || d[0].Temporal != 1 {
		t.Fatalf("400 kbit/s: %+v, want 360p at two temporal layers", d[0])
	}
}

func TestPriorityAndPausing(t *testing.T) {
	screen := Track{Priority: 3, MaxSpatial: 0, MaxTemporal: 3, Rates: [Spatial][Temporal]uint64{{1_000_000}}}
	tracks := []Track{cam(1, 2), screen, cam(2, 2), cam(1, 2)}
	d, _, _ := Allocate(1_150_000, tracks)
	if d[1].Spatial != 0 || d[1].Paused {
		t.Fatalf("screen share not served first: %+v", d[1])
	}
	if d[2].Paused || d[2].Spatial < 0 {
		t.Fatalf("speaker paused while budget remained: %+v", d[2])
	}
	// 1 150 000 - 1 000 000 screen - 60 000 speaker leaves 90 000: one more smallest layer.
	if d[0].Paused || !d[3].Paused {
		t.Fatalf("want the first camera served and the last paused: %+v / %+v", d[0], d[3])
	}
}

func TestUnwantedAndUnavailable(t *testing.T) {
	off := cam(1, Off)
	noHigh := cam(1, 2)
	noHigh.Rates[2] = [Temporal]uint64{}
	d, _, deficit := Allocate(10_000_000, []Track{off, noHigh})
	if d[0].Spatial != Off || d[0].Paused {
		t.Fatalf("unwanted track: %+v", d[0])
	}
	if d[1].Spatial != 1 || deficit != 0 {
		t.Fatalf("track without a 720p layer: %+v deficit %d", d[1], deficit)
	}
}

func TestNoTemporalLayers(t *testing.T) {
	// H.264 simulcast: one temporal layer per spatial layer.
	tr := Track{Priority: 1, MaxSpatial: 2, MaxTemporal: 3, Rates: [Spatial][Temporal]uint64{{150_000}, {500_000}, {2_000_000}}}
	d, _, _ := Allocate(1_000_000, []Track{tr})
	if d[0].Spatial != 1 || d[0].Temporal != 0 {
		t.Fatalf("%+v", d[0])
	}
}

func TestLargerLayersKeepHalfTheirFrameRate(t *testing.T) {
	// 900 kbit/s would buy 720p at a quarter frame rate (800 kbit/s); 360p at full rate is better.
	d, _, _ := Allocate(900_000, []Track{cam(1, 2)})
	if d[0].Spatial != 1 || d[0].Temporal != 2 {
		t.Fatalf("%+v, want 360p at full frame rate", d[0])
	}
	// The smallest layer still steps through its frame rates on a thin link.
	d, _, _ = Allocate(70_000, []Track{cam(1, 2)})
	if d[0].Spatial != 0 || d[0].Temporal != 0 {
		t.Fatalf("%+v, want 180p at its base frame rate", d[0])
	}
}

// BenchmarkAllocate is one allocation pass for a subscriber receiving 30 simulcast cameras and a
// screen share: it runs four times a second per subscriber, not per packet.
func BenchmarkAllocate(b *testing.B) {
	tracks := make([]Track, 31)
	for i := range tracks {
		tracks[i] = cam(1+i%2, int8(i%3))
	}
	tracks[30] = Track{Priority: 3, MaxSpatial: 0, MaxTemporal: 3, Rates: [Spatial][Temporal]uint64{{1_000_000}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Allocate(6_000_000, tracks)
	}
}

func TestSmallest(t *testing.T) {
	tr := cam(1, 2)
	tr.Rates[0] = [Temporal]uint64{} // the publisher's 180p layer is off: 360p at its lowest rate
	if s, tl, ok := Smallest(&tr); !ok || s != 1 || tl != 0 {
		t.Fatalf("Smallest = %d/%d %v, want 1/0", s, tl, ok)
	}
	if _, _, ok := Smallest(&Track{MaxSpatial: Off, Rates: camera}); ok {
		t.Fatal("a track the subscriber does not want has a smallest layer")
	}
}

// A budget that fits only one of two equal tracks at its top layer keeps that layer on the track
// that has it, whatever order the tracks come in.
func TestTopLayerStaysWithItsTrack(t *testing.T) {
	budget := uint64(2_000_000 + 1_200_000 + 100_000) // one at 720p full rate, one at 720p t1
	for _, holder := range []int{0, 1} {
		tracks := []Track{cam(1, 2), cam(1, 2)}
		tracks[holder].Current, tracks[1-holder].Current = 2, 1
		d, _, _ := Allocate(budget, tracks)
		if d[holder].Rate != 2_000_000 || d[1-holder].Rate != 1_200_000 {
			t.Fatalf("track %d holds the top layer: got %+v", holder, d)
		}
	}
	// Without a current layer to tell them apart the earlier track in input order gets it.
	d, _, _ := Allocate(budget, []Track{cam(1, 2), cam(1, 2)})
	if d[0].Rate != 2_000_000 || d[1].Rate != 1_200_000 {
		t.Fatalf("got %+v, want the first at the top layer", d)
	}
}
