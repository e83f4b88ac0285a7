package multinode

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// cutter forwards TCP to target until cut: then it drops every connection and refuses new ones,
// as a network partition between one node and Redis would.
type cutter struct {
	ln    net.Listener
	cut   atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{ln: ln}
	t.Cleanup(func() { _ = ln.Close(); c.Cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			if c.cut.Load() {
				_ = in.Close()
				continue
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return c
}

func (c *cutter) Cut() {
	c.cut.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.conns {
		_ = x.Close()
	}
	c.conns = nil
}

// The room's node loses Redis while the others keep it: it cannot renew its lease, so it ends the
// room before the lease can expire and another node take it; the participants come back on a
// node that still reaches Redis. At no instant do two nodes host the room.
func TestPartitionedRoomNodeEndsRoomBeforeTakeover(t *testing.T) {
	r := startRedis(t)
	cut := newCutter(t, r.Addr)
	host := testkit.StartNode(t, func(c *config.Config) { c.Redis.Address = cut.ln.Addr().String() })
	a := testkit.StartNode(t, func(c *config.Config) { c.Redis.Address = r.Addr })
	b := testkit.StartNode(t, func(c *config.Config) { c.Redis.Address = r.Addr })
	ctx := context.Background()
	if _, err := roomService(host).CreateRoom(ctx, &livekit.CreateRoomRequest{Name: "cut"}); err != nil {
		t.Fatal(err)
	}
	if owner, _, _ := roomOwner(r, t, "cut"); owner != host.ID() {
		t.Fatalf("room placed on %s, not on the node it was created through", owner)
	}
	p1 := join(t, a.URL(), "cut", "p1")
	p2 := join(t, b.URL(), "cut", "p2")
	p1.waitMedia("p2", time.Now(), 25, 20*time.Second)
	p2.waitMedia("p1", time.Now(), 25, 20*time.Second)

	rdb := r.client(t)
	cutAt := time.Now()
	cut.Cut()
	var endedAt, takenAt time.Time
	for endedAt.IsZero() || takenAt.IsZero() {
		hosting := host.Rooms().Room("cut") != nil
		owner, _, err := rediscluster.RoomOwner(ctx, rdb, "cut")
		if err != nil {
			t.Fatal(err)
		}
		taken := owner != "" && owner != host.ID()
		if hosting && taken {
			t.Fatalf("the room is open on the cut-off node while %s holds its lease", owner)
		}
		if !hosting && endedAt.IsZero() {
			endedAt = time.Now()
		}
		if taken && takenAt.IsZero() {
			takenAt = time.Now()
		}
		if time.Since(cutAt) > 20*time.Second {
			t.Fatalf("after the cut: ended %v, taken over %v", endedAt, takenAt)
		}
		time.Sleep(5 * time.Millisecond) // the two facts live in two places: sampled together
	}
	if !endedAt.Before(takenAt) {
		t.Fatalf("room ended %v after the cut, taken over %v after", endedAt.Sub(cutAt), takenAt.Sub(cutAt))
	}
	back := time.Now()
	p1.waitMedia("p2", back, 25, 20*time.Second)
	p2.waitMedia("p1", back, 25, 20*time.Second)
	t.Logf("cut-off node ended the room %v after the cut; taken over %v after; media back both ways %v after",
		endedAt.Sub(cutAt), takenAt.Sub(cutAt), time.Since(cutAt))
}
