package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/livekit/protocol/livekit"
	goredis "github.com/redis/go-redis/v9"
)

// NodeInfo is a node's registry entry.
type NodeInfo struct {
	ID       string    `json:"id"`
	URL      string    `json:"url"`
	MediaIP  string    `json:"media_ip,omitempty"`
	Region   string    `json:"region,omitempty"`
	Draining bool      `json:"draining,omitempty"`
	Load     Load      `json:"load"`
	Updated  time.Time `json:"updated"`
	// Rooms is filled in by ListNodes: the rooms whose leases the node holds.
	Rooms []string `json:"-"`
}

// HTTPURL is the node's HTTP base URL, which other nodes reach it at: its signalling URL as
// http(s), with its media address for a host it listens on as unspecified (0.0.0.0, ::).
func (n NodeInfo) HTTPURL() (string, error) {
	u, err := url.Parse(n.URL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("node %s has no usable URL %q", n.ID, n.URL)
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	if ip := net.ParseIP(u.Hostname()); (ip == nil && u.Hostname() == "") || (ip != nil && ip.IsUnspecified()) {
		if n.MediaIP == "" {
			return "", fmt.Errorf("node %s listens on every address and advertises none", n.ID)
		}
		u.Host = net.JoinHostPort(n.MediaIP, u.Port())
	}
	return u.String(), nil
}

func (c *Cluster) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.heartbeat(ctx)
		c.checkDrain(ctx)
	}
}

// checkDrain starts draining when `hop drain` asked for it.
func (c *Cluster) checkDrain(ctx context.Context) {
	if c.isDraining() || c.cfg.OnDrain == nil {
		return
	}
	v, err := c.rdb.Get(ctx, drainKey(c.cfg.NodeID)).Result()
	if err != nil {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		d = 0
	}
	c.log.Info("drain requested", "deadline", d)
	c.SetDraining(true)
	go c.cfg.OnDrain(d)
}

func (c *Cluster) heartbeat(ctx context.Context) {
	info := NodeInfo{ID: c.cfg.NodeID, URL: c.cfg.URL, MediaIP: c.cfg.MediaIP, Region: c.cfg.Region,
		Draining: c.isDraining(), Updated: time.Now()}
	if c.cfg.Load != nil {
		info.Load = c.cfg.Load()
	}
	b, _ := json.Marshal(info)
	ctx, cancel := context.WithTimeout(ctx, HeartbeatEvery)
	defer cancel()
	err := c.rdb.SetArgs(ctx, nodeKey(c.cfg.NodeID), b, goredis.SetArgs{TTL: NodeTTL, Get: true}).Err()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case errors.Is(err, goredis.Nil):
		if c.registered {
			c.troubleAt = time.Now() // our entry vanished before its TTL: Redis lost its data
		}
		c.registered = true
	case err != nil:
		c.troubleAt = time.Now()
		c.log.Debug("heartbeat failed", "err", err)
	default:
		c.registered = true
	}
}

// inTrouble reports whether Redis failed recently enough that the registry may be incomplete.
func (c *Cluster) inTrouble() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.troubleAt.IsZero() && time.Since(c.troubleAt) < NodeTTL+HeartbeatEvery
}

type liveness struct {
	at    time.Time
	alive bool
}

// alive reports whether node's registry entry is there (read at most every HeartbeatEvery).
func (c *Cluster) alive(ctx context.Context, node string) (bool, error) {
	c.mu.Lock()
	l, ok := c.seen[node]
	c.mu.Unlock()
	if ok && time.Since(l.at) < HeartbeatEvery {
		return l.alive, nil
	}
	n, err := c.rdb.Exists(ctx, nodeKey(node)).Result()
	if err != nil {
		return false, err
	}
	if n == 0 && c.inTrouble() {
		return true, nil
	}
	c.mu.Lock()
	if c.seen == nil || len(c.seen) > 10000 {
		c.seen = map[string]liveness{}
	}
	c.seen[node] = liveness{at: time.Now(), alive: n == 1}
	c.mu.Unlock()
	return n == 1, nil
}

// Nodes lists the live nodes, each with the rooms it holds.
func (c *Cluster) Nodes(ctx context.Context) ([]NodeInfo, error) { return ListNodes(ctx, c.rdb) }

// ListNodes reads the registry (for `hop status`, and placement).
func ListNodes(ctx context.Context, rdb goredis.Cmdable) ([]NodeInfo, error) {
	var keys []string
	iter := rdb.Scan(ctx, 0, nodeKeyPrefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	vals, err := rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var out []NodeInfo
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // expired between SCAN and MGET
		}
		var n NodeInfo
		if json.Unmarshal([]byte(s), &n) == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	for i := range out {
		rooms, err := rdb.SMembers(ctx, nodeRoomsKey(out[i].ID)).Result()
		if err != nil {
			return nil, err
		}
		sort.Strings(rooms)
		out[i].Rooms = rooms
	}
	return out, nil
}

// RoomOwner reads which node holds room's lease ("" if none) and the lease's value.
func RoomOwner(ctx context.Context, rdb goredis.Cmdable, room string) (node, lease string, err error) {
	v, err := rdb.Get(ctx, roomKey(room)).Result()
	if errors.Is(err, goredis.Nil) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	return leaseNode(v), v, nil
}

// place chooses the node for a new room: the least loaded of the live nodes that are not
// draining, in this node's region when it has any there. The load counts rooms from the lease
// sets (current at once, unlike the heartbeat), participants and busy processors.
func (c *Cluster) place(ctx context.Context) (string, error) {
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return "", unavailable(err)
	}
	var cands []NodeInfo
	for _, n := range nodes {
		if !n.Draining {
			cands = append(cands, n)
		}
	}
	if c.cfg.Region != "" {
		var same []NodeInfo
		for _, n := range cands {
			if n.Region == c.cfg.Region {
				same = append(same, n)
			}
		}
		if len(same) > 0 {
			cands = same
		}
	}
	if len(cands) == 0 {
		if c.isDraining() {
			return "", &JoinRefused{Reason: livekit.DisconnectReason_SERVER_SHUTDOWN, Status: http.StatusServiceUnavailable, Msg: "no node takes new rooms (all are draining)"}
		}
		return c.cfg.NodeID, nil // this node's own entry is not written yet
	}
	best, bestScore := "", 0.0
	for _, n := range cands {
		s := score(n)
		if best == "" || s < bestScore || (s == bestScore && n.ID == c.cfg.NodeID) {
			best, bestScore = n.ID, s
		}
	}
	return best, nil
}

// score weighs a node's load: a room costs as much as a few participants, a busy processor more.
func score(n NodeInfo) float64 {
	return 4*float64(len(n.Rooms)) + float64(n.Load.Participants) + 0.25*float64(n.Load.Tracks) + 8*n.Load.CPU
}

// Cmdable is what reading the registry needs of a Redis client.
type Cmdable = goredis.Cmdable
