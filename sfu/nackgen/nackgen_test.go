package nackgen

import (
	"slices"
	"testing"
)

const ms = 1_000_000

// push feeds seqs at time now and returns what is asked for.
func push(g *Generator, now int64, seqs ...uint16) []uint16 {
	var out []uint16
	for _, s := range seqs {
		out = g.Push(s, now, out)
	}
	return out
}

func TestGapAskedAtOnceThenRetriedOnArrivals(t *testing.T) {
	var g Generator
	if got := push(&g, 0, 10, 11, 12); len(got) != 0 {
		t.Fatalf("in-order packets asked for %v", got)
	}
	if got := push(&g, 1*ms, 15); !slices.Equal(got, []uint16{13, 14}) {
		t.Fatalf("after a gap: asked for %v, want [13 14]", got)
	}
	if got := push(&g, 5*ms, 16); len(got) != 0 {
		t.Fatalf("asked again after 4 ms: %v", got)
	}
	// 13 comes back; 14, asked for 21 ms ago, is asked again on that arrival.
	if got := push(&g, 22*ms, 13); !slices.Equal(got, []uint16{14}) || g.Missing() != 1 {
		t.Fatalf("on 13's arrival at 22 ms: asked for %v (%d missing), want [14]", got, g.Missing())
	}
	if got := push(&g, 25*ms, 17); len(got) != 0 {
		t.Fatalf("asked again 3 ms after: %v", got)
	}
	if got := push(&g, 43*ms, 18); !slices.Equal(got, []uint16{14}) {
		t.Fatalf("retry at 43 ms: asked for %v, want [14]", got)
	}
	if got := push(&g, 44*ms, 14); len(got) != 0 || g.Missing() != 0 {
		t.Fatalf("after the last hole filled: asked %v, %d missing", got, g.Missing())
	}
}

func TestGivesUpAfterMaxTries(t *testing.T) {
	var g Generator
	asked := 0
	now := int64(0)
	seq := uint16(100)
	push(&g, now, seq)
	seq += 2 // 101 is lost for good
	for i := 0; i < 3*MaxTries; i++ {
		asked += len(push(&g, now, seq))
		seq++
		now += RetryAfter
	}
	if asked != MaxTries || g.Missing() != 0 {
		t.Fatalf("asked %d times, %d still missing; want %d and 0", asked, g.Missing(), MaxTries)
	}
}

func TestWrapAndWindow(t *testing.T) {
	var g Generator
	push(&g, 0, 65534)
	if got := push(&g, 1, 1); !slices.Equal(got, []uint16{65535, 0}) {
		t.Fatalf("across the wrap: asked for %v, want [65535 0]", got)
	}
	// A jump of a window or more (the sender restarted) asks for nothing and forgets the holes.
	if got := push(&g, 2, 1+Window); len(got) != 0 || g.Missing() != 0 {
		t.Fatalf("after a jump: asked %v, %d missing", got, g.Missing())
	}
	// Holes that fall a window behind are dropped.
	push(&g, 3, 3+Window) // 2+Window missing
	for s := uint16(4 + Window); s != 4+2*Window; s++ {
		push(&g, 4, s)
	}
	if g.Missing() != 0 {
		t.Fatalf("%d holes kept a window behind", g.Missing())
	}
}

func TestLongBurstKeepsTheNewest(t *testing.T) {
	var g Generator
	push(&g, 0, 0)
	got := push(&g, 1, 300)
	if len(got) != MaxMissing || got[0] != 300-MaxMissing || got[len(got)-1] != 299 {
		t.Fatalf("a 299-packet hole asked for %d packets %d..%d, want the newest %d", len(got), got[0], got[len(got)-1], MaxMissing)
	}
}

func TestPushAllocatesNothing(t *testing.T) {
	var g Generator
	buf := make([]uint16, 0, MaxMissing)
	seq := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		if seq%50 == 0 {
			seq++ // a hole now and then
		}
		buf = g.Push(seq, int64(seq)*ms, buf[:0])
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}

func FuzzPush(f *testing.F) {
	f.Add([]byte{0, 1, 0, 5, 0, 3, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Generator
		var now int64
		for i := 0; i+1 < len(b); i += 2 {
			now += int64(b[i]) * ms
			out := g.Push(uint16(b[i])<<8|uint16(b[i+1]), now, nil)
			if len(out) > MaxMissing || g.Missing() > MaxMissing {
				t.Fatalf("%d asked, %d missing", len(out), g.Missing())
			}
		}
	})
}

func BenchmarkPushInOrder(b *testing.B) {
	var g Generator
	buf := make([]uint16, 0, MaxMissing)
	for i := 0; i < b.N; i++ {
		buf = g.Push(uint16(i), int64(i)*ms, buf[:0])
	}
}
