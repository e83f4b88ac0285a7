// Package tick gives the node's periodic work a common phase: a Ticker ticks on the multiples of
// its period since the Unix epoch, so every connection's, participant's and track's loop with the
// same period wakes at the same instants. Timers that fire together are run in one pass, by one
// thread: an idle core is woken once per period for all of them, not once per loop (30
// subscribers' 250 ms allocation timers, each with a phase of its own, woke an idle core about 70
// times a second; each wake-up costs an idle core more CPU than the work it does).
package tick

import "time"

// Ticker is a timer that fires on every multiple of its period. After each receive from C, call
// Next to arm it for the following one; a tick missed while busy is not made up.
type Ticker struct {
	C     <-chan time.Time
	d     time.Duration
	timer *time.Timer
}

// New starts a Ticker with period d (> 0), first firing at the next multiple of d.
func New(d time.Duration) *Ticker {
	t := &Ticker{d: d, timer: time.NewTimer(untilNext(time.Now(), d))}
	t.C = t.timer.C
	return t
}

// Next arms the ticker for the next multiple of its period.
func (t *Ticker) Next() { t.timer.Reset(untilNext(time.Now(), t.d)) }

// Chan is C, for those that take a ticker through an interface.
func (t *Ticker) Chan() <-chan time.Time { return t.C }

// Stop stops the ticker.
func (t *Ticker) Stop() { t.timer.Stop() }

// untilNext is the time from now to the next multiple of d, never zero (a tick at a boundary
// goes to the following one).
func untilNext(now time.Time, d time.Duration) time.Duration {
	return d - time.Duration(now.UnixNano()%int64(d))
}
