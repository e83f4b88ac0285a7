package bwe

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Config bounds an estimator.
type Config struct {
	// Initial is the estimate before any feedback, in bits per second.
	Initial uint64
	// Min and Max bound the estimate.
	Min, Max uint64
}

// DefaultConfig suits one meeting participant's downlink.
var DefaultConfig = Config{Initial: 1_500_000, Min: 100_000, Max: 50_000_000}

// Signal is what the delay detector concludes from the latest feedback.
type Signal int

// Delay signals.
const (
	Normal Signal = iota
	Overuse
	Underuse
)

func (s Signal) String() string {
	switch s {
	case Overuse:
		return "overuse"
	case Underuse:
		return "underuse"
	}
	return "normal"
}

// Estimator holds one subscriber connection's bandwidth estimate.
type Estimator struct {
	cfg  Config
	hist History

	estimate atomic.Uint64

	mu sync.Mutex
	// delay-based detection
	trend     trendline
	group     sendGroup
	prevGroup sendGroup
	haveGroup bool
	signal    Signal
	overSince int64 // µs of arrival when overuse was first seen
	// loss over the last lossWindow reported packets
	loss     float64
	lossRing [lossWindow]lossEntry
	lossN    int // entries in the ring, oldest at lossHead
	lossHead int
	lossLost int
	// acknowledged (delivered) bitrate, bits/s, over the last ackWindow of arrivals
	acked   float64
	ackRing [ackRingSize]ackEntry
	ackNext int
	// queuing delay: one-way delay above the lowest seen recently, ms
	baseDelay  int64 // µs, arrival - send, minimum over baseWindow
	baseAt     int64 // ns when baseDelay was set
	excess     float64
	prevExcess float64
	// queuedSince is when excess last rose above standingMS (0: it is below).
	queuedSince int64
	// rate control
	lastUpdate   int64 // ns
	lastDecrease int64 // ns
	rateAtCongestion
	// REMB fallback
	remb     uint64
	lastREMB int64
	lastTWCC int64
	// probes
	probes          [4]probeCluster
	nextCluster     uint16
	lastProbe       int64
	lastProbeFailed bool
	probeResult     uint64
	// While a probe's extra traffic may still be queued (until probeFloorUntil, ns), congestion is
	// the probe's doing: the estimate falls no lower than probeFloor, just under where it stood
	// before the probe, which the path was carrying.
	probeFloor      float64
	probeFloorUntil int64

	onChange func(uint64)
	// results is OnTWCC's buffer, reused under mu.
	results []packetResult
}

// A standing queue is one-way delay more than standingMS above the base for standingFor.
const (
	standingMS  = 40
	standingFor = 200 * time.Millisecond
)

const (
	lossWindow  = 300
	ackRingSize = 512
	ackWindowUS = 500_000
	// baseWindow bounds how long the lowest delay seen is trusted (routes change).
	baseWindow = 10 * time.Second
)

type lossEntry struct {
	lost  bool
	nanos int64 // when it was reported
}

// lossAge bounds how old a report still counts for the loss fraction.
const lossAge = int64(time.Second)

type ackEntry struct {
	arrivalUS int64
	size      int
}

// rateAtCongestion tracks the average estimate at decreases, to slow growth near it.
type rateAtCongestion struct {
	avg, variance float64
	valid         bool
}

func (r *rateAtCongestion) update(v float64) {
	if !r.valid {
		r.avg, r.variance, r.valid = v, 0, true
		return
	}
	const alpha = 0.05
	d := v - r.avg
	r.avg += alpha * d
	r.variance = (1-alpha)*r.variance + alpha*d*d
}

func (r *rateAtCongestion) near(v float64) bool {
	if !r.valid {
		return false
	}
	sd := math.Sqrt(r.variance)
	if sd < 0.05*r.avg {
		sd = 0.05 * r.avg
	}
	return v > r.avg-3*sd && v < r.avg+3*sd
}

// New makes an estimator. onChange, if set, is told the new estimate when it changes by more than
// 5%; it runs on the goroutine that delivered the feedback.
func New(cfg Config, onChange func(uint64)) *Estimator {
	if cfg.Initial == 0 {
		cfg = DefaultConfig
	}
	e := &Estimator{cfg: cfg, onChange: onChange}
	e.estimate.Store(cfg.Initial)
	return e
}

// History is where senders record packets.
func (e *Estimator) History() *History { return &e.hist }

// Estimate is the current estimate in bits per second.
func (e *Estimator) Estimate() uint64 { return e.estimate.Load() }

// Loss is the recent fraction of packets lost.
func (e *Estimator) Loss() float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.loss
}

// DelaySignal is the delay detector's latest conclusion.
func (e *Estimator) DelaySignal() Signal {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.signal
}

func (e *Estimator) set(v float64, now int64) {
	if v < float64(e.cfg.Min) {
		v = float64(e.cfg.Min)
	}
	if v > float64(e.cfg.Max) {
		v = float64(e.cfg.Max)
	}
	old := e.estimate.Swap(uint64(v))
	if e.onChange != nil && (uint64(v) > old+old/20 || uint64(v) < old-old/20) {
		e.onChange(uint64(v))
	}
}

// OnREMB takes a receiver's estimate (used when the subscriber sends no transport-wide feedback).
func (e *Estimator) OnREMB(bitrate float32, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.remb = uint64(bitrate)
	e.lastREMB = now.UnixNano()
	if now.UnixNano()-e.lastTWCC > int64(2*time.Second) {
		e.set(float64(e.remb), now.UnixNano())
	}
}

// packetResult is one packet reported by feedback.
type packetResult struct {
	sendUS    int64
	arrivalUS int64
	size      int
	cluster   uint16
	received  bool
}

// OnTWCC processes one transport-wide feedback packet (RTCP PT 205 FMT 15, header included).
func (e *Estimator) OnTWCC(pkt []byte, now time.Time) error {
	nowNS := now.UnixNano()
	e.mu.Lock()
	defer e.mu.Unlock()
	results, err := parseFeedback(pkt, &e.hist, nowNS/1000, e.results[:0])
	e.results = results[:0] // keep the grown buffer: no allocation per feedback
	if err != nil || len(results) == 0 {
		return err
	}
	e.lastTWCC = nowNS

	var bytes int
	var delaySum float64
	var delayN int
	for i := range results {
		r := &results[i]
		e.countLoss(!r.received, nowNS)
		if !r.received {
			continue
		}
		bytes += r.size
		e.ackRing[e.ackNext] = ackEntry{arrivalUS: r.arrivalUS, size: r.size}
		e.ackNext = (e.ackNext + 1) % ackRingSize
		// One-way delay in the receiver's clock minus ours: only its changes mean anything.
		d := r.arrivalUS - r.sendUS
		if e.baseAt == 0 || d < e.baseDelay || nowNS-e.baseAt > int64(baseWindow) {
			e.baseDelay, e.baseAt = d, nowNS
		}
		delaySum += float64(d - e.baseDelay)
		delayN++
		e.addToGroup(r)
		if r.cluster != 0 {
			e.probeFeedback(r)
		}
	}
	if delayN > 0 {
		e.prevExcess = e.excess
		e.excess = delaySum / float64(delayN) / 1000
		if e.excess <= standingMS {
			e.queuedSince = 0
		} else if e.queuedSince == 0 {
			e.queuedSince = nowNS
		}
	}
	e.acked = e.ackedRate()
	e.finishProbes(nowNS)
	e.update(nowNS)
	return nil
}

// countLoss adds one reported packet to the loss window (the last lossWindow packets reported
// within lossAge).
func (e *Estimator) countLoss(lost bool, now int64) {
	for e.lossN > 0 && (e.lossN == lossWindow || now-e.lossRing[e.lossHead].nanos > lossAge) {
		if e.lossRing[e.lossHead].lost {
			e.lossLost--
		}
		e.lossHead = (e.lossHead + 1) % lossWindow
		e.lossN--
	}
	e.lossRing[(e.lossHead+e.lossN)%lossWindow] = lossEntry{lost: lost, nanos: now}
	e.lossN++
	if lost {
		e.lossLost++
	}
	e.loss = float64(e.lossLost) / float64(e.lossN)
}

// ackedRate is the delivered bitrate over the last ackWindowUS of arrivals.
func (e *Estimator) ackedRate() float64 {
	newest := int64(math.MinInt64)
	for _, a := range e.ackRing {
		if a.size > 0 && a.arrivalUS > newest {
			newest = a.arrivalUS
		}
	}
	if newest == math.MinInt64 {
		return 0
	}
	var bytes int
	oldest := newest
	for _, a := range e.ackRing {
		if a.size > 0 && a.arrivalUS > newest-ackWindowUS {
			bytes += a.size
			if a.arrivalUS < oldest {
				oldest = a.arrivalUS
			}
		}
	}
	span := newest - oldest
	if span < 100_000 {
		return e.acked // too little to judge yet
	}
	return float64(bytes*8) * 1e6 / float64(span)
}

// update runs the rate controller after new feedback.
func (e *Estimator) update(now int64) {
	est := float64(e.estimate.Load())
	dt := float64(now-e.lastUpdate) / 1e9
	if e.lastUpdate == 0 || dt > 1 {
		dt = 0.1
	}
	e.lastUpdate = now
	// Congestion: the delay detector fires, or a standing queue has built up (a full tail-drop
	// queue shows no delay growth, only high delay and loss).
	// The queue must stand for standingFor: a receiver descheduled for a few hundred ms (a busy
	// machine) reports one feedback of late arrivals and then none, and is no queue on the path.
	standing := e.queuedSince != 0 && now-e.queuedSince >= int64(standingFor)
	congested := e.signal == Overuse || (standing && (e.excess > 100 || e.loss > 0.05))
	draining := e.excess < e.prevExcess-5
	switch {
	case congested && !draining:
		// Back off to below what actually got through, then give the queue time to drain.
		if now-e.lastDecrease > int64(300*time.Millisecond) {
			target := 0.85 * e.acked
			if e.acked == 0 || target > est {
				target = 0.85 * est
			}
			target = e.probeFloored(target, est, now)
			e.rateAtCongestion.update(target)
			e.lastDecrease = now
			est = target
		}
	case e.loss > 0.25 && e.excess < 25:
		// Heavy loss without a queue: a policer, or a link that drops in bursts. (Loss with a
		// queue is a full buffer's tail drop, answered above; while that queue drains, the
		// loss window still holds its drops, and counting them again would cut the estimate
		// far below what the path carries.)
		if now-e.lastDecrease > int64(300*time.Millisecond) {
			est = e.probeFloored(est*(1-0.5*e.loss), est, now)
			e.lastDecrease = now
		}
	case !congested && e.signal != Underuse && e.loss < 0.10 && e.excess < 25:
		if e.rateAtCongestion.near(est) {
			// Close to where congestion set in last time: creep up by about one packet per 100 ms.
			est += dt * 1200 * 8 * 10
		} else {
			est *= math.Pow(1.08, dt)
		}
		// Without probing, never claim much more than has been delivered.
		if e.acked > 0 {
			limit := 1.5*e.acked + 50_000
			if pr := float64(e.probeResult); pr > limit {
				limit = pr
			}
			if est > limit {
				est = math.Max(limit, float64(e.estimate.Load()))
			}
		}
	}
	if e.remb > 0 && now-e.lastREMB < int64(2*time.Second) && float64(e.remb) < est {
		est = float64(e.remb) // the receiver says it cannot take more
	}
	e.set(est, now)
}

// probeFloored limits a decrease from est to target while a probe's traffic may be what congests
// the path: the probe failed, the path is no worse than before it.
func (e *Estimator) probeFloored(target, est float64, now int64) float64 {
	if now < e.probeFloorUntil && target < e.probeFloor {
		return min(e.probeFloor, est)
	}
	return target
}

// sendGroup is the packets sent within one 5 ms burst: the unit of delay-variation measurement.
type sendGroup struct {
	firstSendUS, lastSendUS       int64
	firstArrivalUS, lastArrivalUS int64
	size                          int
}

const (
	groupSpanUS = 5_000
	// A packet that arrives within burstGapUS of its group's last one, sooner after it than it was
	// sent, joins that group whatever its send time, up to burstSpanUS of arrivals: a receiver (or
	// sender) that was descheduled and then reads a backlog at once shows a stall, not a queue.
	burstGapUS  = 5_000
	burstSpanUS = 100_000
)

func (e *Estimator) addToGroup(r *packetResult) {
	if !e.haveGroup {
		e.group = sendGroup{firstSendUS: r.sendUS, lastSendUS: r.sendUS, firstArrivalUS: r.arrivalUS, lastArrivalUS: r.arrivalUS, size: r.size}
		e.haveGroup = true
		return
	}
	if r.sendUS < e.group.firstSendUS {
		return // reordered from an older group
	}
	if r.sendUS-e.group.firstSendUS <= groupSpanUS || e.group.burst(r) {
		if r.sendUS > e.group.lastSendUS {
			e.group.lastSendUS = r.sendUS
		}
		if r.arrivalUS > e.group.lastArrivalUS {
			e.group.lastArrivalUS = r.arrivalUS
		}
		e.group.size += r.size
		return
	}
	// The group is complete: compare it with the previous one.
	if e.prevGroup.lastSendUS != 0 {
		sendDelta := float64(e.group.lastSendUS-e.prevGroup.lastSendUS) / 1000
		arrDelta := float64(e.group.lastArrivalUS-e.prevGroup.lastArrivalUS) / 1000
		e.signal = e.trend.update(arrDelta-sendDelta, float64(e.group.lastArrivalUS)/1000, &e.overSince)
	}
	e.prevGroup = e.group
	e.group = sendGroup{firstSendUS: r.sendUS, lastSendUS: r.sendUS, firstArrivalUS: r.arrivalUS, lastArrivalUS: r.arrivalUS, size: r.size}
}

// burst reports whether r arrived in the same burst as the group's packets.
func (g *sendGroup) burst(r *packetResult) bool {
	arrDelta := r.arrivalUS - g.lastArrivalUS
	sendDelta := r.sendUS - g.lastSendUS
	if sendDelta == 0 {
		return true
	}
	return arrDelta-sendDelta < 0 && arrDelta <= burstGapUS && r.arrivalUS-g.firstArrivalUS < burstSpanUS
}
