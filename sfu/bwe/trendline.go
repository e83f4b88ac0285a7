package bwe

import "math"

// trendline estimates whether queuing delay is growing: it accumulates the delay variation between
// send groups, smooths it, fits a line through the recent points and compares the slope with an
// adaptive threshold (the approach of Google Congestion Control's delay-based detector).
type trendline struct {
	accumulated float64
	smoothed    float64
	points      [trendWindow]trendPoint
	n           int // points filled
	next        int
	numDeltas   int
	threshold   float64 // ms
	lastUpdate  float64 // arrival ms of the last threshold update
	prevTrend   float64
	overCount   int
	firstArr    float64
	haveFirst   bool
}

type trendPoint struct{ x, y float64 }

const (
	trendWindow    = 20
	smoothing      = 0.9
	thresholdGain  = 4
	overuseTimeMs  = 10
	initThreshold  = 12.5
	minThreshold   = 6
	maxThreshold   = 600
	kUp            = 0.0087
	kDown          = 0.039
	maxDeltasCount = 60
)

// update takes one group's delay variation (ms) at its arrival time (ms) and returns the signal.
// overSince keeps when overuse began across calls (µs; 0 when not overusing).
func (t *trendline) update(delayVar, arrivalMs float64, overSince *int64) Signal {
	if t.threshold == 0 {
		t.threshold = initThreshold
	}
	if !t.haveFirst {
		t.firstArr, t.haveFirst = arrivalMs, true
	}
	t.numDeltas++
	if t.numDeltas > maxDeltasCount {
		t.numDeltas = maxDeltasCount
	}
	t.accumulated += delayVar
	t.smoothed = smoothing*t.smoothed + (1-smoothing)*t.accumulated
	t.points[t.next] = trendPoint{x: arrivalMs - t.firstArr, y: t.smoothed}
	t.next = (t.next + 1) % trendWindow
	if t.n < trendWindow {
		t.n++
	}
	trend := t.prevTrend
	if t.n == trendWindow {
		if s, ok := slope(t.points[:]); ok {
			trend = s
		}
	}
	modified := float64(t.numDeltas) * trend * thresholdGain
	sig := Normal
	switch {
	case modified > t.threshold:
		t.overCount++
		// Overuse only when it lasts and the trend is not already easing.
		if t.overCount >= 2 && trend >= t.prevTrend {
			sig = Overuse
			if *overSince == 0 {
				*overSince = int64(arrivalMs * 1000)
			}
		}
	case modified < -t.threshold:
		sig = Underuse
		t.overCount = 0
		*overSince = 0
	default:
		t.overCount = 0
		*overSince = 0
	}
	t.prevTrend = trend
	t.adaptThreshold(modified, arrivalMs)
	return sig
}

// adaptThreshold follows the trend slowly so that the detector neither starves against competing
// TCP flows nor fires on noise.
func (t *trendline) adaptThreshold(modified, nowMs float64) {
	if t.lastUpdate == 0 {
		t.lastUpdate = nowMs
	}
	abs := math.Abs(modified)
	if abs > t.threshold+15 {
		t.lastUpdate = nowMs // a spike: do not chase it
		return
	}
	k := kUp
	if abs < t.threshold {
		k = kDown
	}
	dt := math.Min(nowMs-t.lastUpdate, 100)
	t.threshold += k * (abs - t.threshold) * dt
	t.threshold = math.Max(minThreshold, math.Min(maxThreshold, t.threshold))
	t.lastUpdate = nowMs
}

// slope fits y = a + b·x by least squares and returns b.
func slope(pts []trendPoint) (float64, bool) {
	var sx, sy float64
	for _, p := range pts {
		sx += p.x
		sy += p.y
	}
	n := float64(len(pts))
	mx, my := sx/n, sy/n
	var num, den float64
	for _, p := range pts {
		num += (p.x - mx) * (p.y - my)
		den += (p.x - mx) * (p.x - mx)
	}
	if den == 0 {
		return 0, false
	}
	return num / den, true
}
