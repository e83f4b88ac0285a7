// Package procs sizes the Go scheduler (GOMAXPROCS) to the node's load: the node runs on one
// processor while one carries its load, and on up to all of them (the GOMAXPROCS it started with)
// when it does not.
//
// Why: a lightly loaded node forwards a packet by handing it from the socket's reader to a writer
// goroutine. With a second, idle processor, every such hand-off makes the runtime wake a thread
// for it (it cannot know the reader is about to block and leave its processor to the writer), and
// most of the time that thread finds nothing to do and sleeps again. Each wake-up and sleep costs
// a system call and two context switches: in the end-to-end run (4 publishers, 30 subscribers,
// about 18 % of one core) that overhead made a packet cost ~5.9 µs of CPU on two processors
// against ~4.6 µs on one. Under load both processors are busy, nothing is woken in vain, and the
// writers spread over every core.
//
// The controller samples the process's CPU time four times a second (on the node's common tick
// phase, see internal/tick). It adds processors at once when the load nears what the current ones
// carry, and takes them away only after the load has stayed well below for two seconds.
package procs

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// Period is how often the load is sampled.
	Period = 250 * time.Millisecond
	// up: more processors when the load exceeds this share of the current ones.
	up = 0.7
	// down: fewer processors when the load would fill less than this share of one fewer...
	down = 0.5
	// ...for this many samples in a row.
	downAfter = 8
)

// next is the processor count after a sample: n processors now, at most limit, the load in cores
// (CPU seconds per second), low the count of consecutive samples that wanted fewer (updated).
func next(n, limit int, load float64, low *int) int {
	if load > up*float64(n) && n < limit {
		*low = 0
		return min(limit, int(math.Ceil(load/up)))
	}
	if n > 1 && load < down*float64(n-1) {
		if *low++; *low >= downAfter {
			*low = 0
			return max(1, min(int(math.Ceil(load/down)), n-1))
		}
		return n
	}
	*low = 0
	return n
}

var changes atomic.Uint64

// Changes is how many times Run has changed GOMAXPROCS.
func Changes() uint64 { return changes.Load() }

// Ticker wakes Run every Period (the node passes internal/tick's, so that sampling shares the
// phase of its other periodic work); Next arms it again after a tick.
type Ticker interface {
	Chan() <-chan time.Time
	Next()
	Stop()
}

// Run sizes GOMAXPROCS to the load until ctx ends, between 1 and the value it had when called,
// and then restores that value. It returns at once if that value is 1. It stops t.
func Run(ctx context.Context, log *slog.Logger, t Ticker) {
	defer t.Stop()
	limit := runtime.GOMAXPROCS(0)
	if limit <= 1 {
		return
	}
	defer runtime.GOMAXPROCS(limit)
	n, low := limit, 0
	lastCPU, lastAt := cpuTime(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
			t.Next()
		}
		cpu, at := cpuTime(), time.Now()
		load := (cpu - lastCPU).Seconds() / at.Sub(lastAt).Seconds()
		lastCPU, lastAt = cpu, at
		if m := next(n, limit, load, &low); m != n {
			log.Debug("processors sized to the load", "from", n, "to", m, "load_cores", math.Round(load*100)/100)
			runtime.GOMAXPROCS(m)
			n = m
			changes.Add(1)
		}
	}
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
