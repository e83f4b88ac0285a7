// Package redis runs a Hop node as one of a cluster coordinated through Redis: a node registry
// with heartbeats, room placement by load, the room→node mapping as a fenced lease, signalling
// relayed to the room's node over Redis Streams, and RoomService and Egress calls forwarded to it.
//
// Timings (see the constants below): a node's heartbeat key lives NodeTTL and is refreshed every
// HeartbeatEvery, so a silent node disappears within NodeTTL. A room's lease lives LeaseTTL and is
// renewed every RenewEvery by its node. The node counts its lease from the moment it sent the
// renewal that succeeded (earlier than Redis's own start of the expiry), and stops hosting the room
// leaseMargin before that local deadline: a node that cannot renew, or that was paused, has
// closed the room before any other node can claim it.
package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/hop-meet/hop/signaling/roomservice"
	"github.com/hop-meet/hop/signaling/routing"
)

const (
	// LeaseTTL is how long a room's lease lives in Redis without renewal.
	LeaseTTL = 2 * time.Second
	// RenewEvery is how often a node renews the leases of its rooms.
	RenewEvery = 400 * time.Millisecond
	// leaseMargin covers scheduling delay and clock-rate difference between node and Redis.
	leaseMargin = 300 * time.Millisecond
	// NodeTTL is how long a node's registry entry lives without a heartbeat.
	NodeTTL = time.Second
	// HeartbeatEvery is how often a node refreshes its registry entry and load.
	HeartbeatEvery = 250 * time.Millisecond
	// streamMaxLen bounds each relayed session's stream in each direction.
	streamMaxLen = 1024
	// streamTTL lets the streams of a session whose both ends vanished expire.
	streamTTL = 2 * time.Minute
	// pollBlock is how long a relay reader waits for a message before checking the other end.
	pollBlock = 250 * time.Millisecond
	// unusedLeaseGrace is how long a claimed room may have no room on its node before the lease
	// is given back (a claim whose join then failed).
	unusedLeaseGrace = 5 * time.Second
)

// Options reach Redis: one server, or a master through Sentinels.
type Options struct {
	Addr             string
	Username         string
	Password         string
	DB               int
	TLS              *tls.Config
	SentinelAddrs    []string
	MasterName       string
	SentinelPassword string
}

// NewClient connects to Redis. Timeouts are short: a node must learn that Redis is away well
// within a lease.
func NewClient(o Options) goredis.UniversalClient {
	quietOnce.Do(func() { goredis.SetLogger(quietLogger{}) })
	addrs := []string{o.Addr}
	if len(o.SentinelAddrs) > 0 {
		addrs = o.SentinelAddrs
	}
	return goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:            addrs,
		MasterName:       o.MasterName,
		Username:         o.Username,
		Password:         o.Password,
		SentinelPassword: o.SentinelPassword,
		DB:               o.DB,
		TLSConfig:        o.TLS,
		DialTimeout:      time.Second,
		ReadTimeout:      time.Second,
		WriteTimeout:     time.Second,
		// Every relayed session holds a connection in a blocking read.
		PoolSize:   4096,
		MaxRetries: 1,
	})
}

var quietOnce sync.Once

// quietLogger keeps go-redis's own reconnection messages (one per failed dial while Redis is
// away) out of the node's log; the cluster reports what failed itself.
type quietLogger struct{}

func (quietLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Debug("redis client: " + fmt.Sprintf(format, v...))
}

// Config is one node's part in the cluster.
type Config struct {
	NodeID string
	// URL is the node's signalling base URL (ws:// or wss://), MediaIP its advertised media address.
	URL, MediaIP, Region string
	// Load reports the node's current load for placement and `hop status`.
	Load func() Load
	// Host runs this node's sessions; Rooms administers its rooms.
	Host  routing.Host
	Rooms roomservice.Rooms
	// HasRoom reports whether the node has the room open (a lease without one is given back).
	HasRoom func(name string) bool
	// Evict ends a room whose lease this node lost; its participants should join again.
	Evict func(name string)
	// OnDrain is called once when `hop drain` asks this node to drain, with the deadline after
	// which its meetings are moved.
	OnDrain func(deadline time.Duration)
	// Egress answers the Egress calls other nodes forward (see AttachEgress).
	Egress Egress
	Logger *slog.Logger
}

// Load is what a node carries: placement prefers the least loaded.
type Load struct {
	Rooms        int     `json:"rooms"`
	Participants int     `json:"participants"`
	Tracks       int     `json:"tracks"`
	CPU          float64 `json:"cpu"` // processors busy, averaged over the last heartbeat period
}

// Cluster is this node's membership.
type Cluster struct {
	cfg    Config
	rdb    goredis.UniversalClient
	log    *slog.Logger
	leases *Leases
	local  *routing.Local
	stats  Stats

	mu       sync.Mutex
	draining bool
	// moving: the node is moving its rooms away; joins wait for them to be placed elsewhere.
	moving bool
	// seen caches other nodes' liveness briefly, so that many relayed sessions ask once.
	seen map[string]liveness
	// troubleAt is when Redis last failed or lost the registry (restarted empty): until the
	// nodes have registered again, a missing entry does not mean a dead node.
	troubleAt  time.Time
	registered bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New joins the cluster: the node registers, serves calls and renews its leases until Close.
// Host, Rooms, HasRoom and Evict may be set after New through Attach, before Start.
func New(rdb goredis.UniversalClient, cfg Config) *Cluster {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Cluster{cfg: cfg, rdb: rdb, log: cfg.Logger.With("component", "cluster")}
	c.leases = &Leases{c: c, held: map[string]*lease{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// Registry is the lease-backed room registry the room manager releases rooms through.
func (c *Cluster) Registry() routing.RoomRegistry { return c.leases }

// Attach gives the cluster the node's rooms (made after the registry they release through).
func (c *Cluster) Attach(host routing.Host, rooms roomservice.Rooms, hasRoom func(string) bool, evict func(string)) {
	c.cfg.Host, c.cfg.Rooms, c.cfg.HasRoom, c.cfg.Evict = host, rooms, hasRoom, evict
	c.local = &routing.Local{NodeID: c.cfg.NodeID, Host: host, Registry: c.leases}
}

// SetURL sets the advertised signalling URL (known once the node listens).
func (c *Cluster) SetURL(url string) { c.cfg.URL = url }

// Start runs the heartbeat, the lease renewals and the call servers.
func (c *Cluster) Start() {
	c.heartbeat(c.ctx) // registered before the node takes its first join
	c.run(c.heartbeatLoop)
	c.run(c.leases.renewLoop)
	for range rpcWorkers {
		c.run(c.serveCalls)
	}
}

func (c *Cluster) run(f func(context.Context)) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f(c.ctx)
	}()
}

// Close leaves the cluster: the registry entry goes at once, the leases with the rooms.
func (c *Cluster) Close() {
	c.cancel()
	c.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.rdb.Del(ctx, nodeKey(c.cfg.NodeID)).Err()
}

// NodeID is this node's id.
func (c *Cluster) NodeID() string { return c.cfg.NodeID }

// Stats returns the cluster counters.
func (c *Cluster) Stats() *Stats { return &c.stats }

// SetDraining stops (or resumes) placing new rooms on this node.
func (c *Cluster) SetDraining(d bool) {
	c.mu.Lock()
	c.draining = d
	c.mu.Unlock()
	c.heartbeat(c.ctx)
}

// SetMoving makes joins to this node's rooms wait until they are placed elsewhere.
func (c *Cluster) SetMoving() {
	c.mu.Lock()
	c.moving = true
	c.mu.Unlock()
}

func (c *Cluster) isMoving() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.moving
}

// RequestDrain asks node to drain (what `hop drain` does); the node sees it on its next heartbeat.
func RequestDrain(ctx context.Context, rdb goredis.Cmdable, node string, deadline time.Duration) error {
	return rdb.Set(ctx, drainKey(node), deadline.String(), time.Hour).Err()
}

func (c *Cluster) isDraining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining
}

// Keys. Room names are opaque strings; they go at the end of a key.
func nodeKey(id string) string      { return "hop:node:" + id }
func roomKey(name string) string    { return "hop:room:" + name }
func fenceKey(name string) string   { return "hop:fence:" + name }
func lastKey(name string) string    { return "hop:last:" + name }
func nodeRoomsKey(id string) string { return "hop:noderooms:" + id }
func drainKey(id string) string     { return "hop:drain:" + id }
func callsKey(id string) string     { return "hop:calls:" + id }
func replyKey(id string) string     { return "hop:reply:" + id }
func egressKey(id string) string    { return "hop:egress:" + id }
func upKey(sid string) string       { return "hop:sess:" + sid + ":up" }
func downKey(sid string) string     { return "hop:sess:" + sid + ":down" }

const nodeKeyPrefix = "hop:node:"

// ErrUnavailable is a join or call refused because the cluster's coordination is unreachable.
var ErrUnavailable = errors.New("cluster coordination (Redis) is unreachable")

func unavailable(err error) error { return fmt.Errorf("%w: %v", ErrUnavailable, err) }

// Leases is the node's lease table.
func (c *Cluster) Leases() *Leases { return c.leases }
