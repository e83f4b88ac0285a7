package redis

import (
	"context"
	"testing"
	"time"
)

// A recording is given to a node to finish only while its room is on no node and no live node
// records it, only with the entry that node saw, and only once.
func TestTakeUnhostedRecording(t *testing.T) {
	addr := startRedis(t)
	ctx := context.Background()
	rdb := NewClient(Options{Addr: addr})
	defer rdb.Close()
	rec, adopter := New(rdb, Config{NodeID: "ND_rec"}), New(rdb, Config{NodeID: "ND_adopter"})
	ledger, other := rec.RecordingLedger(), adopter.RecordingLedger()
	entry := []byte(`{"segments":["EG_1"]}`)
	if err := ledger.Save(ctx, "r", "EG_1", entry); err != nil {
		t.Fatal(err)
	}
	unhosted := func() bool {
		t.Helper()
		m, err := other.Unhosted(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		one, err := other.Unhosted(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if string(one["r"]["EG_1"]) != string(m["r"]["EG_1"]) {
			t.Fatal("the room's own listing differs from the listing of every room")
		}
		return string(m["r"]["EG_1"]) == string(entry)
	}
	take := func(e []byte) bool {
		t.Helper()
		ok, err := other.TakeUnhosted(ctx, "r", "EG_1", e)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// Its recorder is alive and the room hosted.
	rec.heartbeat(ctx)
	if err := rdb.Set(ctx, roomKey("r"), "ND_rec", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if unhosted() || take(entry) {
		t.Fatal("a hosted room's recording was given away")
	}
	// The room closed, its recording still being composed by a live node.
	rdb.Del(ctx, roomKey("r"))
	if unhosted() || take(entry) {
		t.Fatal("a recording its live node is finishing was given away")
	}
	// Its node died.
	rdb.Del(ctx, nodeKey("ND_rec"))
	adopter.mu.Lock()
	clear(adopter.seen) // its cache of liveness would answer for a heartbeat longer
	adopter.mu.Unlock()
	if !unhosted() {
		t.Fatal("the recording of a dead node's room is not listed")
	}
	if take([]byte(`{"segments":[]}`)) {
		t.Fatal("taken with an entry that is not the ledger's")
	}
	// The room is hosted again (a participant came back) before the take.
	rdb.Set(ctx, roomKey("r"), "ND_other", time.Minute)
	if take(entry) {
		t.Fatal("taken while its room is hosted again")
	}
	rdb.Del(ctx, roomKey("r"))
	if !take(entry) {
		t.Fatal("not taken")
	}
	if take(entry) || unhosted() {
		t.Fatal("taken twice")
	}
	if n, _ := rdb.Get(ctx, egressKey("EG_1")).Result(); n != "ND_adopter" {
		t.Fatalf("egress indexed to %q after the take, want the adopter", n)
	}
	// Release drops only this node's own index.
	if err := ledger.Release(ctx, "EG_1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Get(ctx, egressKey("EG_1")).Result(); n != "ND_adopter" {
		t.Fatalf("another node's release dropped the index (%q)", n)
	}
	if err := other.Release(ctx, "EG_1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(ctx, egressKey("EG_1")).Result(); n != 0 {
		t.Fatal("the node's own release kept its index")
	}
}
