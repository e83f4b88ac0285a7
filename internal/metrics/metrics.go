// Package metrics exposes a node's statistics in the Prometheus text format: rooms, participants,
// tracks, and the media engine's packet totals (read when scraped, never counted twice per packet).
package metrics

import (
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hop-meet/hop/internal/procs"
	"github.com/hop-meet/hop/sfu"
	"github.com/hop-meet/hop/signaling/room"
)

// Handler serves /metrics for a node.
func Handler(nodeID string, engine *sfu.Engine, rooms *room.Manager, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&collector{engine: engine, rooms: rooms, labels: prometheus.Labels{"node": nodeID}})
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type collector struct {
	engine *sfu.Engine
	rooms  *room.Manager
	labels prometheus.Labels
}

func (c *collector) desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("hop_"+name, help, nil, c.labels)
}

// Describe sends nothing: the collector is unchecked, its descriptions are made when collecting.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.engine.Stats().Snapshot()
	counter := func(name, help string, v uint64) {
		ch <- prometheus.MustNewConstMetric(c.desc(name, help), prometheus.CounterValue, float64(v))
	}
	gauge := func(name, help string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.desc(name, help), prometheus.GaugeValue, v)
	}
	counter("packets_received_total", "RTP packets received from publishers.", s.PacketsReceived)
	counter("bytes_received_total", "RTP bytes received from publishers.", s.BytesReceived)
	counter("packets_lost_total", "RTP packets publishers sent that never arrived.", s.PacketsLost)
	counter("packets_forwarded_total", "RTP packets sent to subscribers.", s.PacketsSent)
	counter("bytes_forwarded_total", "RTP payload bytes sent to subscribers.", s.BytesSent)
	counter("nacks_total", "Packets subscribers asked to be sent again.", s.NACKs)
	gauge("gomaxprocs", "Processors the Go scheduler runs the node on now (sized to the load unless procs: fixed).", float64(runtime.GOMAXPROCS(0)))
	counter("gomaxprocs_changes_total", "Times the node changed the processors it runs on to follow its load.", procs.Changes())
	counter("publisher_nacks_total", "Packets asked for again from publishers (lost on the way in).", s.NACKsSent)
	counter("retransmissions_total", "Packets sent again to subscribers.", s.Retransmits)
	counter("plis_total", "Keyframe requests from subscribers.", s.PLIs)
	counter("nacks_unrecoverable_total", "Video packets subscribers kept asking for that could not be sent again (answered with a keyframe).", s.LostForGood)
	counter("forward_drops_total", "Packets a writer could not queue because it was behind.", s.ForwardDrops)
	counter("send_calls_total", "System calls that sent batched packets (sendmmsg).", s.SendCalls)
	counter("send_batched_packets_total", "Packets sent in batches.", s.BatchedPackets)
	counter("send_messages_total", "Messages the batched system calls carried (one per packet, or several packets to one peer cut apart by the kernel: UDP GSO).", s.SendMessages)
	counter("send_drops_total", "Packets dropped because the socket could not take them as fast as they came.", s.SendDrops)
	counter("srtp_direct_packets_total", "RTP packets the node encrypted and queued itself rather than through pion's write path.", s.DirectPackets)
	counter("srtp_direct_received_total", "RTP packets the node took from the socket and decrypted itself rather than through pion's read path.", s.DirectReceived)
	counter("srtp_direct_rtcp_total", "Compound RTCP packets the node took from the socket, decrypted and acted on itself rather than through pion's read path.", s.DirectRTCP)
	counter("srtp_direct_dropped_total", "Packets taken from the socket that failed to decrypt (forged, damaged or replayed).", s.DirectDropped)
	counter("send_overflows_total", "Batches sent through the read socket because the send socket's buffer was full.", s.SendOverflows)
	gauge("published_tracks", "Tracks being published.", float64(s.Tracks))
	gauge("subscribed_tracks", "Tracks being sent to subscribers.", float64(s.DownTracks))
	gauge("peer_connections", "Open WebRTC PeerConnections.", float64(s.PeerConnections))
	rs := c.rooms.Rooms()
	n := 0
	for _, r := range rs {
		n += len(r.Participants())
	}
	gauge("rooms", "Open rooms.", float64(len(rs)))
	gauge("participants", "Participants in all rooms.", float64(n))
	counter("room_full_refusals_total", "Joins refused because their room had reached its participant cap.", c.rooms.FullRefusals())
}
