package tick

import (
	"testing"
	"time"
)

func TestUntilNextLandsOnAMultiple(t *testing.T) {
	d := 250 * time.Millisecond
	for _, off := range []time.Duration{0, 1, d / 2, d - 1} {
		now := time.Unix(1_700_000_000, 0).Add(off)
		w := untilNext(now, d)
		if w <= 0 || w > d || now.Add(w).UnixNano()%int64(d) != 0 {
			t.Errorf("at +%v: wait %v, lands %v past a multiple", off, w, time.Duration(now.Add(w).UnixNano()%int64(d)))
		}
	}
}

// Two tickers started apart both fire on the period's multiples, so at the same instants.
func TestTickersShareThePhase(t *testing.T) {
	d := 100 * time.Millisecond
	a := New(d)
	defer a.Stop()
	time.Sleep(37 * time.Millisecond) // start the second one out of phase on purpose
	b := New(d)
	defer b.Stop()
	late := func(at time.Time) time.Duration { return time.Duration(at.UnixNano() % int64(d)) }
	for i := 0; i < 3; i++ {
		ta, tb := <-a.C, <-b.C
		// Fired no earlier than a multiple, and (allowing for a busy machine) well before the next.
		if late(ta) > d/2 || late(tb) > d/2 {
			t.Fatalf("tick %d: %v and %v past a multiple of %v", i, late(ta), late(tb), d)
		}
		a.Next()
		b.Next()
	}
}
