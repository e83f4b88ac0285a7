package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// ClusterCollector exports a cluster node's relay and lease counters, and the rooms it hosts
// by lease (what the tests compare with Redis to see a room never hosted twice).
func ClusterCollector(nodeID string, c *rediscluster.Cluster) prometheus.Collector {
	return &clusterCollector{c: c, labels: prometheus.Labels{"node": nodeID}}
}

type clusterCollector struct {
	c      *rediscluster.Cluster
	labels prometheus.Labels
}

func (cc *clusterCollector) Describe(chan<- *prometheus.Desc) {}

func (cc *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := cc.c.Stats()
	counter := func(name, help string, v uint64) {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("hop_cluster_"+name, help, nil, cc.labels), prometheus.CounterValue, float64(v))
	}
	counter("relayed_up_total", "Signal requests relayed to a room's node (sent as relay, received as host).", s.RelayedUp.Load())
	counter("relayed_down_total", "Signal responses relayed from this node's rooms to relaying nodes.", s.RelayedDown.Load())
	counter("relay_lag_microseconds_total", "Time relayed signal messages spent between nodes, summed.", s.RelayLagMicros.Load())
	counter("relay_lag_samples_total", "Relayed signal messages whose lag was summed.", s.RelayLagSamples.Load())
	counter("relays_behind_total", "Relayed sessions closed because their reader fell behind.", s.RelaysBehind.Load())
	counter("placements_total", "Room leases this node took.", s.Placements.Load())
	counter("takeovers_total", "Room leases this node took that another node held before.", s.Takeovers.Load())
	counter("lease_renewals_total", "Room leases renewed.", s.Renewals.Load())
	counter("lease_renewal_failures_total", "Room lease renewals that failed (Redis unreachable).", s.RenewFailures.Load())
	counter("leases_lost_total", "Rooms ended here because their lease was lost.", s.LeasesLost.Load())
	counter("calls_total", "Calls served for other nodes.", s.Calls.Load())
	held := cc.c.Leases().Held()
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("hop_cluster_leases_held", "Room leases this node holds.", nil, cc.labels), prometheus.GaugeValue, float64(len(held)))
	for room, lease := range held {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("hop_cluster_room_lease", "A room this node hosts, by lease.", []string{"room", "lease"}, cc.labels), prometheus.GaugeValue, 1, room, lease)
	}
}
