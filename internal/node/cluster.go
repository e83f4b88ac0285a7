package node

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/hop-meet/hop/signaling/room"
	"github.com/hop-meet/hop/signaling/roomservice"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// newCluster connects to the configured Redis and makes this node's membership (started once
// the node listens).
func (n *Node) newCluster() (*rediscluster.Cluster, error) {
	rc := n.cfg.Redis
	o := rediscluster.Options{Addr: rc.Address, Username: rc.Username, Password: rc.Password, DB: rc.DB,
		SentinelAddrs: rc.SentinelAddresses, MasterName: rc.MasterName, SentinelPassword: rc.SentinelPassword}
	if rc.TLS {
		t := &tls.Config{MinVersion: tls.VersionTLS12}
		if rc.CAFile != "" {
			pem, err := os.ReadFile(rc.CAFile)
			if err != nil {
				return nil, fmt.Errorf("redis ca_file: %w", err)
			}
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("redis ca_file %s: no certificates", rc.CAFile)
			}
		}
		o.TLS = t
	}
	mediaIP := n.cfg.RTC.NodeIP
	if mediaIP == "" {
		if a, ok := n.engine.UDPAddr().(*net.UDPAddr); ok {
			mediaIP = a.IP.String()
		}
	}
	cpu := &cpuMeter{}
	return rediscluster.New(rediscluster.NewClient(o), rediscluster.Config{
		NodeID: n.id, MediaIP: mediaIP, Region: n.cfg.Region, Logger: n.log,
		OnDrain: n.Drain,
		Load: func() rediscluster.Load {
			rooms, parts := n.rooms.Load()
			return rediscluster.Load{Rooms: rooms, Participants: parts, Tracks: n.engine.Stats().Snapshot().Tracks, CPU: cpu.busy()}
		},
	}), nil
}

// attachCluster hands the cluster the node's rooms.
func (n *Node) attachCluster(c *rediscluster.Cluster, rooms *room.Manager) {
	c.Attach(rooms, roomservice.LocalRooms(rooms), func(name string) bool { return rooms.Room(name) != nil }, func(name string) {
		if r := rooms.Room(name); r != nil {
			r.Move()
		}
	})
}

// cpuMeter reports the processors the process kept busy since the last reading.
type cpuMeter struct {
	mu   sync.Mutex
	last time.Time
	used time.Duration
}

func (m *cpuMeter) busy() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out float64
	if !m.last.IsZero() && now.After(m.last) {
		out = float64(used-m.used) / float64(now.Sub(m.last))
	}
	m.last, m.used = now, used
	return out
}

// Drain stops placing new rooms on this node, lets its meetings go on until deadline, then asks
// their participants to move (they rejoin, and their rooms are placed on other nodes). The node's
// Serve returns once no room is left. Only a node in a cluster drains; alone, it returns at once.
func (n *Node) Drain(deadline time.Duration) {
	if n.cluster == nil {
		return
	}
	n.drainOnce.Do(func() {
		n.cluster.SetDraining(true)
		n.log.Info("draining: no new rooms here", "deadline", deadline)
		end := time.NewTimer(deadline)
		defer end.Stop()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
	wait:
		// Rooms closing by themselves have no event here: look at them a few times a second.
		for len(n.rooms.Rooms()) > 0 {
			select {
			case <-end.C:
				break wait
			case <-tick.C:
			}
		}
		n.cluster.SetMoving()
		for _, r := range n.rooms.Rooms() {
			n.log.Info("draining: moving room", "room", r.Name(), "participants", len(r.Participants()))
			r.Move()
		}
		n.log.Info("drained")
		close(n.drained)
	})
}
