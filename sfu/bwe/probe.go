package bwe

import (
	"time"
)

// A probe cluster is a short burst sent above the estimate (media plus padding) to find out whether
// the path takes more: if what arrives keeps pace with what was sent and delay does not grow, the
// estimate jumps to the probed rate instead of creeping up for seconds.
type probeCluster struct {
	id         uint16
	target     uint64 // bits/s
	start, end int64  // ns, send side
	active     bool
	// feedback about packets of the cluster
	recvBytes         int
	firstArr, lastArr int64 // µs
	lastSize          int
	recvCount         int
	overuse           bool
	done              bool
}

const (
	probeDuration = 250 * time.Millisecond
	// probeSettle is how long after a probe ends its feedback is awaited before judging it.
	probeSettle = 400 * time.Millisecond
	// probeInterval is the least time between probes while they keep failing.
	probeInterval = 2 * time.Second
	// probeDrain is how long after a probe's feedback is in its traffic may still be queued on the
	// path (a bottleneck's buffer holds a few hundred milliseconds).
	probeDrain = 600 * time.Millisecond
	// probeFloorShare of the estimate before a probe is the least that congestion the probe causes
	// brings it down to.
	probeFloorShare = 0.9
)

// StartProbe begins a probe cluster at target bits/s if none is running and the path is not
// congested. It returns the cluster id to tag packets with (through History) and how long to send,
// or ok false when no probe should be sent now.
func (e *Estimator) StartProbe(target uint64, now time.Time) (id uint16, d time.Duration, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ns := now.UnixNano()
	for i := range e.probes {
		if e.probes[i].active && !e.probes[i].done {
			return 0, 0, false
		}
	}
	if e.signal == Overuse || e.loss > 0.10 || ns-e.lastDecrease < int64(time.Second) {
		return 0, 0, false
	}
	if ns-e.lastProbe < int64(probeInterval) && e.lastProbeFailed {
		return 0, 0, false
	}
	if ns-e.lastProbe < int64(probeDuration+probeSettle) {
		return 0, 0, false
	}
	e.nextCluster++
	if e.nextCluster > MaxCluster { // ids must fit a history entry
		e.nextCluster = 1
	}
	slot := &e.probes[int(e.nextCluster)%len(e.probes)]
	*slot = probeCluster{id: e.nextCluster, target: target, start: ns, end: ns + int64(probeDuration), active: true}
	e.lastProbe = ns
	e.probeFloor = probeFloorShare * float64(e.estimate.Load())
	e.probeFloorUntil = ns + int64(probeDuration+probeSettle+probeDrain)
	e.hist.cluster.Store(uint32(e.nextCluster))
	return e.nextCluster, probeDuration, true
}

// EndProbe stops tagging packets with the cluster.
func (e *Estimator) EndProbe(id uint16) {
	e.hist.cluster.CompareAndSwap(uint32(id), 0)
}

// probeFeedback accounts one received packet of a probe cluster.
func (e *Estimator) probeFeedback(r *packetResult) {
	for i := range e.probes {
		c := &e.probes[i]
		if !c.active || c.done || c.id != r.cluster {
			continue
		}
		if c.recvCount == 0 || r.arrivalUS < c.firstArr {
			c.firstArr = r.arrivalUS
		}
		if r.arrivalUS > c.lastArr {
			c.lastArr = r.arrivalUS
			c.lastSize = r.size
		}
		c.recvBytes += r.size
		c.recvCount++
		if e.signal == Overuse {
			c.overuse = true
		}
	}
}

// finishProbes judges clusters whose feedback is in.
func (e *Estimator) finishProbes(now int64) {
	for i := range e.probes {
		c := &e.probes[i]
		if !c.active || c.done || now < c.end+int64(probeSettle) {
			continue
		}
		c.done = true
		e.hist.cluster.CompareAndSwap(uint32(c.id), 0)
		span := c.lastArr - c.firstArr
		if c.overuse || c.recvCount < 5 || span <= 0 {
			e.lastProbeFailed = true
			continue
		}
		// The last packet's bytes arrived after the span measured: leave them out.
		recvRate := float64((c.recvBytes-c.lastSize)*8) * 1e6 / float64(span)
		// Accept what was delivered, up to what was probed.
		rate := recvRate
		if t := float64(c.target); rate > t {
			rate = t
		}
		e.lastProbeFailed = rate < 0.8*float64(c.target)
		if rate*0.95 > float64(e.estimate.Load()) {
			e.probeResult = uint64(rate * 0.95)
			e.set(rate*0.95, now)
		}
	}
}

// Probing reports whether a probe cluster is being sent.
func (e *Estimator) Probing() bool { return e.hist.cluster.Load() != 0 }
