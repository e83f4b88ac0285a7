package testkit

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// Goroutines counts the process's goroutines by the function each one was started with (the
// bottom frame of its stack), so that a check can say which kind of goroutine is left over rather
// than only how many.
type Goroutines struct {
	byEntry map[string]int
	// sample keeps one stack per entry function, for the failure message.
	sample map[string]string
	// blocked is where the sampled goroutine waits: its first frame outside the runtime.
	blocked map[string]string
	total   int
}

// CountGoroutines takes a snapshot of every goroutine in the process.
func CountGoroutines() *Goroutines {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	g := &Goroutines{byEntry: map[string]int{}, sample: map[string]string{}, blocked: map[string]string{}}
	for _, stack := range strings.Split(strings.TrimSpace(string(buf)), "\n\n") {
		entry, blocked := entryOf(stack)
		g.total++
		g.byEntry[entry]++
		if _, ok := g.sample[entry]; !ok {
			g.sample[entry] = stack
			g.blocked[entry] = blocked
		}
	}
	return g
}

// Total is the number of goroutines in the snapshot.
func (g *Goroutines) Total() int { return g.total }

// entryOf returns the function a goroutine's stack started in and the first frame outside the
// runtime (where it is blocked). A stack too deep to print whole is named by its creator.
func entryOf(stack string) (entry, blocked string) {
	lines := strings.Split(stack, "\n")
	var frames []string
	created := ""
	elided := false
	for i := 1; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "\t"):
		case strings.HasPrefix(l, "created by "):
			created = strings.TrimPrefix(l, "created by ")
			if j := strings.Index(created, " in goroutine "); j >= 0 {
				created = created[:j]
			}
		case strings.HasPrefix(l, "...") && strings.Contains(l, "frames elided"):
			elided = true
		default:
			frames = append(frames, funcName(l))
		}
	}
	for _, f := range frames {
		if !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "internal/") {
			blocked = f
			break
		}
	}
	switch {
	case elided || len(frames) == 0:
		entry = "(deep stack) created by " + created
	default:
		entry = frames[len(frames)-1]
	}
	return entry, blocked
}

// funcName strips the argument list from a stack frame's function line.
func funcName(l string) string {
	if i := strings.LastIndex(l, "("); i > 0 {
		return l[:i]
	}
	return l
}

// Spare names goroutines a check tolerates beyond the baseline: up to Max started in the function
// Entry (as the failure message names them), each one something the caller knows may outlive the
// work it checks.
type Spare struct {
	Entry string
	Max   int
}

// excess lists the entry functions that have more goroutines now than at base, beyond the spares,
// with how many more.
func (g *Goroutines) excess(base *Goroutines, spares []Spare) map[string]int {
	out := map[string]int{}
	for entry, n := range g.byEntry {
		d := n - base.byEntry[entry]
		for _, s := range spares {
			if s.Entry == entry {
				d -= s.Max
			}
		}
		if d > 0 {
			out[entry] = d
		}
	}
	return out
}

// describe lists the extra goroutines by entry function, most numerous first, with one stack each.
func (g *Goroutines) describe(extra map[string]int) string {
	entries := make([]string, 0, len(extra))
	for e := range extra {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		if extra[entries[i]] != extra[entries[j]] {
			return extra[entries[i]] > extra[entries[j]]
		}
		return entries[i] < entries[j]
	})
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "  +%d %s (blocked in %s)\n", extra[e], e, g.blocked[e])
	}
	b.WriteString("one stack of each:\n")
	for _, e := range entries {
		b.WriteString(g.sample[e])
		b.WriteString("\n\n")
	}
	return b.String()
}

// WaitGoroutinesBack waits until no entry function has more goroutines than it had at base, beyond
// the spares named. It fails the test after timeout with the survivors grouped by the function
// they started in. Goroutines end asynchronously after a close, so this polls; there is no event
// to wait for.
func WaitGoroutinesBack(t testing.TB, base *Goroutines, timeout time.Duration, spares ...Spare) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		now := CountGoroutines()
		extra := now.excess(base, spares)
		if len(extra) == 0 {
			return
		}
		if time.Now().After(deadline) {
			n := 0
			for _, d := range extra {
				n += d
			}
			t.Fatalf("%d goroutines more than at the baseline (and its spares %v) after %v (%d now, %d then); by the function they started in:\n%s",
				n, spares, timeout, now.total, base.total, now.describe(extra))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// HeapAfterGC collects garbage twice (the second pass frees what the first only unlinked, such as
// sync.Pool's victim caches) and returns the bytes of live heap objects.
func HeapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// SettledGoroutines is a snapshot taken once two in a row, 100 ms apart, agree: a node starts
// some goroutines of its own asynchronously (its HTTP server, its admin listener), and a previous
// test's node may still be finishing, so a baseline taken at once can miss or count them.
func SettledGoroutines(timeout time.Duration) *Goroutines {
	prev := CountGoroutines()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		cur := CountGoroutines()
		if len(cur.excess(prev, nil)) == 0 && len(prev.excess(cur, nil)) == 0 {
			return cur
		}
		prev = cur
	}
	return prev
}
