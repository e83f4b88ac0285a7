package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hop-meet/hop/sfu/turn"
)

// TURNCollector exports the embedded TURN server's counters.
func TURNCollector(nodeID string, s *turn.Server) prometheus.Collector {
	return &turnCollector{s: s, labels: prometheus.Labels{"node": nodeID}}
}

type turnCollector struct {
	s      *turn.Server
	labels prometheus.Labels
}

func (tc *turnCollector) Describe(chan<- *prometheus.Desc) {}

func (tc *turnCollector) Collect(ch chan<- prometheus.Metric) {
	s := tc.s.Stats()
	allocs := prometheus.NewDesc("hop_turn_allocations_total", "TURN relays clients allocated, by the transport they reached the server over.", []string{"transport"}, tc.labels)
	for transport, v := range map[string]uint64{"udp": s.AllocationsUDP.Load(), "tcp": s.AllocationsTCP.Load(), "tls": s.AllocationsTLS.Load()} {
		ch <- prometheus.MustNewConstMetric(allocs, prometheus.CounterValue, float64(v), transport)
	}
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("hop_turn_allocations", "TURN relays open now.", nil, tc.labels), prometheus.GaugeValue, float64(s.Active.Load()))
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("hop_turn_auth_failures_total", "TURN requests refused for bad or expired credentials.", nil, tc.labels), prometheus.CounterValue, float64(s.AuthFailures.Load()))
}
