package procs

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

// feed runs samples of load through next, from n processors, and returns the counts after each.
func feed(n, max int, loads ...float64) []int {
	var low int
	out := make([]int, len(loads))
	for i, l := range loads {
		n = next(n, max, l, &low)
		out[i] = n
	}
	return out
}

func TestUpAtOnceDownAfterTwoSeconds(t *testing.T) {
	// One processor nearly full: two at once.
	if got := feed(1, 4, 0.8); got[0] != 2 {
		t.Fatalf("load 0.8 on 1: %v, want 2", got)
	}
	// A jump to 2.5 cores on one (it shows as a full one) goes up, and on two it goes up again.
	if got := feed(1, 4, 1.0, 1.4); got[0] != 2 || got[1] != 2 {
		t.Fatalf("full: %v, want [2 2]", got)
	}
	if got := feed(2, 4, 2.0); got[0] != 3 {
		t.Fatalf("load 2.0 on 2: %v, want 3", got)
	}
	// Never above the limit.
	if got := feed(2, 2, 2.0); got[0] != 2 {
		t.Fatalf("at the limit: %v", got)
	}
	// Light load on two: back to one after eight samples in a row, not before.
	loads := make([]float64, downAfter)
	for i := range loads {
		loads[i] = 0.2
	}
	got := feed(2, 2, loads...)
	if got[downAfter-2] != 2 || got[downAfter-1] != 1 {
		t.Fatalf("light load: %v, want 2 until the %dth sample, then 1", got, downAfter)
	}
	// A busy sample in between starts the count again.
	mixed := append(append([]float64{0.2, 0.2, 0.2, 0.6}, loads[:downAfter-1]...), 0.2)
	if got := feed(2, 2, mixed...); got[len(got)-2] != 2 || got[len(got)-1] != 1 {
		t.Fatalf("interrupted: %v", got)
	}
	// Between the thresholds nothing moves.
	if got := feed(2, 2, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6); got[9] != 2 {
		t.Fatalf("steady 0.6 on 2: %v", got)
	}
	if got := feed(1, 2, 0.6, 0.6, 0.6); got[2] != 1 {
		t.Fatalf("steady 0.6 on 1: %v", got)
	}
	// From four, down to what the load wants: one for 0.2 cores, three for 1.2.
	if got := feed(4, 4, loads...); got[downAfter-1] != 1 {
		t.Fatalf("0.2 cores on 4: %v", got)
	}
	heavy := make([]float64, downAfter)
	for i := range heavy {
		heavy[i] = 1.2
	}
	if got := feed(4, 4, heavy...); got[downAfter-1] != 3 {
		t.Fatalf("1.2 cores on 4: %v", got)
	}
}

// Run takes an idle process down to one processor, back up to two when one is kept busy, and
// gives back the limit when it stops.
func TestRunSizesAndRestores(t *testing.T) {
	limit := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(limit)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Run(ctx, slog.Default(), newStdTicker(Period)); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("an idle process kept 2 processors for 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A goroutine that keeps one processor busy: the load fills it, and a second comes back.
	stopBusy := make(chan struct{})
	busyDone := make(chan int)
	go func() {
		sum := 0 // returned, so that the loop is not optimised away
		defer func() { busyDone <- sum }()
		for {
			select {
			case <-stopBusy:
				return
			default:
			}
			for i := 0; i < 1e5; i++ {
				sum += i
			}
		}
	}()
	deadline = time.Now().Add(10 * time.Second)
	for runtime.GOMAXPROCS(0) != 2 {
		if time.Now().After(deadline) {
			close(stopBusy)
			<-busyDone
			t.Fatal("a busy process stayed on 1 processor for 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stopBusy)
	<-busyDone
	cancel()
	<-done
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Fatalf("after Run: GOMAXPROCS %d, want 2 back", got)
	}
}

// stdTicker is a plain time.Ticker behind Run's Ticker.
type stdTicker struct{ t *time.Ticker }

func newStdTicker(d time.Duration) stdTicker { return stdTicker{time.NewTicker(d)} }
func (s stdTicker) Chan() <-chan time.Time   { return s.t.C }
func (s stdTicker) Next()                    {}
func (s stdTicker) Stop()                    { s.t.Stop() }
