package redis

import (
	"context"
	"strconv"
	"sync"
	"testing"
)

// Two participants coming back to a room its dead node held rejoin at once, so the node that
// takes it over claims it twice concurrently: the takeover must be counted once, whichever
// answer arrives first.
func TestConcurrentClaimsCountOneTakeover(t *testing.T) {
	addr := startRedis(t)
	ctx := context.Background()
	rdbA, rdbB := NewClient(Options{Addr: addr}), NewClient(Options{Addr: addr})
	defer rdbA.Close()
	defer rdbB.Close()
	a, b := New(rdbA, Config{NodeID: "ND_a"}), New(rdbB, Config{NodeID: "ND_b"})
	const rooms = 60
	for i := range rooms {
		room := "r" + strconv.Itoa(i)
		if owner, err := a.leases.Claim(ctx, room, "ND_a"); err != nil || owner != "ND_a" {
			t.Fatalf("claim %s on a: %q, %v", room, owner, err)
		}
		// a dies: its lease runs out (made to, here), its last-holder mark stays.
		if err := rdbA.Del(ctx, roomKey(room)).Err(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if owner, err := b.leases.Claim(ctx, room, "ND_b"); err != nil || owner != "ND_b" {
					t.Errorf("claim %s on b: %q, %v", room, owner, err)
				}
			})
		}
		wg.Wait()
	}
	if got := b.stats.Takeovers.Load(); got != rooms {
		t.Errorf("b counted %d takeovers of %d rooms it took from a", got, rooms)
	}
	if got := b.stats.Placements.Load(); got != rooms {
		t.Errorf("b counted %d placements of %d rooms", got, rooms)
	}
}
