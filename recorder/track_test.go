package recorder

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A writer whose file stops taking data (a stalled disk: here a pipe nobody reads) drops and
// counts the packets it cannot queue; WritePacket never waits for it.
func TestSlowDiskDropsRecorderPackets(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "stall")
	if err := syscall.Mkfifo(base+".webm", 0o600); err != nil {
		t.Fatal(err)
	}
	// A reader that reads nothing until the end keeps the pipe open and full.
	rd, err := os.OpenFile(base+".webm", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	w, err := NewTrackWriter(vp8Source{}, TrackParams{Path: base})
	if err != nil {
		t.Fatal(err)
	}
	w.LayersChanged([3]bool{true})
	pkts := vp8Packets(3 * 30 * 20)
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for i := range pkts {
			w.WritePacket(0, &pkts[i], 0, nil)
		}
	}()
	select {
	case <-fed:
	case <-time.After(10 * time.Second):
		t.Fatal("WritePacket waited for the stalled file")
	}
	if w.dropped.Load() == 0 {
		t.Fatalf("no packet dropped while the file took nothing")
	}
	// Let the file drain so the writer can finish: read until the writer is done (a pipe read may
	// find it empty for a moment, or see no writer yet, before the writer's next write).
	fd := int(rd.Fd())
	_ = syscall.SetNonblock(fd, true)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			select {
			case <-w.Done():
				return
			default:
			}
			if n, err := syscall.Read(fd, buf); n <= 0 || err != nil {
				time.Sleep(time.Millisecond) // the pipe is empty: no event tells when it fills
			}
		}
	}()
	res := w.Stop()
	if res.Dropped == 0 || res.Frames == 0 {
		t.Fatalf("result %+v: want frames written and drops counted", res)
	}
}

// The reorder buffer puts packets back in order and gives up on a hole after reorderWait, telling
// the next packet out that some were lost.
func TestReorder(t *testing.T) {
	var r reorder
	var got []uint16
	var lost []bool
	emit := func(p *packet, l bool) { got = append(got, p.seq); lost = append(lost, l) }
	mk := func(seq uint16, at time.Duration) *packet {
		p := new(packet)
		p.seq, p.arrival = seq, int64(at)
		return p
	}
	r.push(mk(65534, 0), emit)
	r.push(mk(0, 0), emit) // 65535 is late
	r.push(mk(65535, 10*time.Millisecond), emit)
	r.push(mk(1, 20*time.Millisecond), emit)
	r.push(mk(3, 30*time.Millisecond), emit) // 2 never comes
	if want := []uint16{65534, 65535, 0, 1}; !equal(got, want) {
		t.Fatalf("emitted %v, want %v before the hole", got, want)
	}
	r.push(mk(4, 30*time.Millisecond+reorderWait), emit)
	if want := []uint16{65534, 65535, 0, 1, 3, 4}; !equal(got, want) || !lost[4] || lost[5] || lost[3] {
		t.Fatalf("emitted %v lost %v, want 3 marked as after a loss", got, lost)
	}
	r.push(mk(2, time.Second), emit) // too late now
	if len(got) != 6 {
		t.Fatalf("a packet older than what was emitted came out: %v", got)
	}
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
