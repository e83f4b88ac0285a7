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

// Two tickers started apart fire together, on the period's multiples.
func TestTickersShareThePhase(t *testing.T) {
	d := 100 * time.Millisecond
	a := New(d)
	defer a.Stop()
	time.Sleep(37 * time.Millisecond) // start the second one out of phase on purpose
	b := New(d)
	defer b.Stop()
	for i := 0; i < 3; i++ {
		ta, tb := <-a.C, <-b.C
		if diff := ta.Sub(tb).Abs(); diff > d/2 {
			t.Fatalf("tick %d: %v apart", i, diff)
		}
		// Each fired no earlier than the multiple it was armed for.
		if off := time.Duration(ta.UnixNano() % int64(d)); off > d/2 {
			t.Fatalf("tick %d at %v past a multiple (early?)", i, off)
		}
		a.Next()
		b.Next()
	}
}
