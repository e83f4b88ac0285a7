package redis

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// Leases is the room→node mapping: routing.RoomRegistry over Redis leases with fencing tokens.
// A lease's value is "<node> <token>", the token counting claims of that room; only the holder
// of the exact value renews or releases it.
type Leases struct {
	c *Cluster

	// claims joins a node's concurrent claims of one room (participants rejoining a moved room
	// at once): each would otherwise see the others' fresh lease as this node's own, and the
	// one whose answer came first decides whether the takeover is counted.
	claims singleflight.Group

	mu   sync.Mutex
	held map[string]*lease
}

type lease struct {
	value   string
	claimed time.Time
	// until is when this node stops hosting the room unless a renewal succeeds first.
	until time.Time
}

// claimScript: KEYS room, fence, node's room set, last holder; ARGV node, ttl ms, room name.
// The current holder's value is returned (a lease this node already holds is extended), and on
// a new lease the node that held the room before unless it released it (a takeover).
var claimScript = goredis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
  end
  return {v, ''}
end
local prev = redis.call('GET', KEYS[4]) or ''
redis.call('SET', KEYS[4], ARGV[1], 'PX', 86400000)
local t = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 86400000)
v = ARGV[1] .. ' ' .. t
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return {v, prev}
`)

// renewScript: KEYS[1] the node's room set, KEYS[2..] rooms; ARGV[1] ttl ms, ARGV[2..] the
// values held, ARGV[n+2..] the room names. A lease Redis no longer has (it restarted without
// its data) is taken again by its holder: nobody else can have hosted the room meanwhile, as the
// holder's lease was still running on its own clock.
var renewScript = goredis.NewScript(`
local n = #KEYS - 1
local out = {}
for i = 1, n do
  local k = KEYS[i + 1]
  local v = redis.call('GET', k)
  if v == ARGV[i + 1] then
    redis.call('PEXPIRE', k, ARGV[1])
    out[i] = 1
  elseif not v then
    redis.call('SET', k, ARGV[i + 1], 'PX', ARGV[1])
    redis.call('SADD', KEYS[1], ARGV[n + i + 1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`)

// releaseScript: KEYS room, node's room set, last holder; ARGV value, room name.
var releaseScript = goredis.NewScript(`
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Claim implements routing.RoomRegistry: the room's holder, this node if nobody held it.
func (l *Leases) Claim(ctx context.Context, room, nodeID string) (string, error) {
	// The shared claim must not fail for everyone because the first caller gave up; Redis
	// calls are bounded by the client's timeouts.
	ctx = context.WithoutCancel(ctx)
	owner, err, _ := l.claims.Do(nodeID+"\x00"+room, func() (any, error) { return l.claim(ctx, room, nodeID) })
	if err != nil {
		return "", err
	}
	return owner.(string), nil
}

func (l *Leases) claim(ctx context.Context, room, nodeID string) (string, error) {
	sent := time.Now()
	res, err := claimScript.Run(ctx, l.c.rdb, []string{roomKey(room), fenceKey(room), nodeRoomsKey(nodeID), lastKey(room)},
		nodeID, LeaseTTL.Milliseconds(), room).StringSlice()
	if err != nil || len(res) != 2 {
		return "", unavailable(fmt.Errorf("claim %s: %v", room, err))
	}
	v, prev := res[0], res[1]
	owner := leaseNode(v)
	if owner == nodeID {
		l.mu.Lock()
		h := l.held[room]
		if h == nil || h.value != v {
			h = &lease{value: v, claimed: sent}
			l.held[room] = h
			l.c.stats.Placements.Add(1)
			if prev != "" && prev != nodeID {
				l.c.stats.Takeovers.Add(1)
			}
			l.c.log.Info("room lease taken", "room", room, "lease", v, "previous", prev)
		}
		h.until = sent.Add(LeaseTTL - leaseMargin)
		l.mu.Unlock()
	}
	return owner, nil
}

// Release implements routing.RoomRegistry.
func (l *Leases) Release(ctx context.Context, room, nodeID string) error {
	l.mu.Lock()
	h := l.held[room]
	delete(l.held, room)
	l.mu.Unlock()
	if h == nil {
		return l.c.rdb.SRem(ctx, nodeRoomsKey(nodeID), room).Err()
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return releaseScript.Run(ctx, l.c.rdb, []string{roomKey(room), nodeRoomsKey(nodeID), lastKey(room)}, h.value, room).Err()
}

// Holds reports whether this node holds a running lease on room (its fencing check).
func (l *Leases) Holds(room string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.held[room]
	return h != nil && time.Now().Before(h.until)
}

// Held lists the rooms whose leases this node holds, with their values.
func (l *Leases) Held() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.held))
	for r, h := range l.held {
		out[r] = h.value
	}
	return out
}

func leaseNode(v string) string {
	node, _, _ := strings.Cut(v, " ")
	return node
}

// renewLoop renews every held lease; one past its local deadline is given up first, so a
// process that was paused never renews a lease another node may already hold.
func (l *Leases) renewLoop(ctx context.Context) {
	t := time.NewTicker(RenewEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.renew(ctx)
	}
}

func (l *Leases) renew(ctx context.Context) {
	now := time.Now()
	var rooms, values []string
	var lost, unused []string
	l.mu.Lock()
	for r, h := range l.held {
		switch {
		case !now.Before(h.until):
			lost = append(lost, r)
			delete(l.held, r)
		case l.c.cfg.HasRoom != nil && now.Sub(h.claimed) > unusedLeaseGrace && !l.c.cfg.HasRoom(r):
			unused = append(unused, r)
		default:
			rooms = append(rooms, r)
			values = append(values, h.value)
		}
	}
	l.mu.Unlock()
	for _, r := range lost {
		l.lose(r, "its lease could not be renewed in time")
	}
	for _, r := range unused {
		_ = l.Release(ctx, r, l.c.cfg.NodeID)
	}
	if len(rooms) == 0 {
		return
	}
	keys := []string{nodeRoomsKey(l.c.cfg.NodeID)}
	args := []any{LeaseTTL.Milliseconds()}
	for i, r := range rooms {
		keys = append(keys, roomKey(r))
		args = append(args, values[i])
	}
	for _, r := range rooms {
		args = append(args, r)
	}
	rctx, cancel := context.WithTimeout(ctx, RenewEvery)
	res, err := renewScript.Run(rctx, l.c.rdb, keys, args...).Int64Slice()
	cancel()
	if err != nil {
		l.c.stats.RenewFailures.Add(uint64(len(rooms)))
		l.c.log.Warn("lease renewal failed; rooms stay until their leases run out", "rooms", len(rooms), "err", err)
		return
	}
	for i, r := range rooms {
		if i < len(res) && res[i] == 1 {
			l.c.stats.Renewals.Add(1)
			l.mu.Lock()
			if h := l.held[r]; h != nil && h.value == values[i] {
				h.until = now.Add(LeaseTTL - leaseMargin)
			}
			l.mu.Unlock()
			continue
		}
		l.mu.Lock()
		delete(l.held, r)
		l.mu.Unlock()
		l.lose(r, "another node holds its lease")
	}
}

func (l *Leases) lose(room, why string) {
	l.c.stats.LeasesLost.Add(1)
	l.c.log.Warn("room lease lost; ending the room here", "room", room, "why", why)
	if l.c.cfg.Evict != nil {
		go l.c.cfg.Evict(room)
	}
}
