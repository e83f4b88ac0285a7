package sfu

import (
	"net/netip"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/srtpin"
)

// inbound is a connection's side of sfu/srtpin: the streams srtpin takes from pion's path, and
// the connection's interceptors (receiver reports, transport-wide feedback towards the publisher)
// for them. Those are pion's own instances for the connection: a stream
// taken over is bound to them a second time, with a reader that shows them what srtpin delivers,
// so that each packet is seen once whichever way it came. Transport-wide feedback must cover every
// packet the publisher numbered (also those pion alone reads: streams not yet known, probes),
// and two feedback generators would report each other's packets as lost.
type inbound struct {
	t  *Transport
	in srtpin.Conn

	mu  sync.Mutex // guards what follows
	ics []interceptor.Interceptor
	// reports shows the interceptors the peer's sender reports (built on first use, once pion
	// has made every interceptor).
	reports interceptor.RTCPReader
	// routed is the peer address srtpin takes packets from.
	routed netip.AddrPort
	// senders are the connection's receivers by SSRC, for the publisher's sender reports.
	senders map[uint32]*Receiver
}

// built records an interceptor pion made for the connection.
func (in *inbound) built(i interceptor.Interceptor) {
	in.mu.Lock()
	in.ics = append(in.ics, i)
	in.mu.Unlock()
}

// passThrough ends an interceptor chain: the packet is already in the buffer the chain reads into.
var passThrough = interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return len(b), a, nil
})

// bind binds a stream taken from pion to the connection's interceptors and returns its reader:
// Read(p) shows them the packet p. Binding starts the stream's state in them afresh (sequence
// history, counts), from the packets srtpin delivers.
func (in *inbound) bind(info *interceptor.StreamInfo) interceptor.RTPReader {
	in.mu.Lock()
	defer in.mu.Unlock()
	var r interceptor.RTPReader = passThrough
	for _, i := range in.ics {
		r = i.BindRemoteStream(info, r)
	}
	return r
}

// unbind removes a stream bind added.
func (in *inbound) unbind(info *interceptor.StreamInfo) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, i := range in.ics {
		i.UnbindRemoteStream(info)
	}
}

// rtcp takes, on the socket's reader, a compound RTCP packet from the peer, and does with it what
// pion's path would, without its four goroutines (UDP mux, ICE candidate, SRTP session, per-SSRC
// reader) between the socket and the SFU: transport-wide feedback and REMB go to the estimator,
// keyframe requests and NACKs to the downtracks they name, sender reports to the receiver-report
// interceptor (the round trip its reports tell the publisher). Receiver reports, source
// descriptions and the rest are read by nothing in Hop. A compound that does not parse is left to
// pion, which drops it.
func (in *inbound) rtcp(compound []byte) bool {
	sr, fb := false, false
	for b := compound; len(b) > 0; {
		pkt, rest, ok := nextRTCP(b)
		if !ok {
			return false
		}
		b = rest
		switch pt, format := rtcpKind(pkt); {
		case pt == rtcpSR:
			sr = true
		case pt == rtcpPSFB && (format == fmtPLI || format == fmtFIR), pt == rtcpRTPFB && format == fmtNACK:
			fb = true
		}
	}
	in.t.onRTCP(compound)
	if fb {
		if ds := in.t.downs.Load(); ds != nil {
			for _, dt := range *ds {
				dt.HandleRTCP(compound)
			}
		}
	}
	if sr {
		if r := in.reportReader(); r != nil {
			_, _, _ = r.Read(compound, nil)
		}
	}
	return true
}

// reportReader is the interceptors' RTCP reader, or nil when the connection has none.
func (in *inbound) reportReader() interceptor.RTCPReader {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.reports == nil && len(in.ics) > 0 {
		var r interceptor.RTCPReader = rtcpPassThrough
		for _, i := range in.ics {
			r = i.BindRTCPReader(r)
		}
		in.reports = r
	}
	return in.reports
}

var rtcpPassThrough = interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return len(b), a, nil
})

// route has srtpin take what addr sends (invalid: nothing), once the keys are known.
func (in *inbound) route(addr netip.AddrPort) {
	in.mu.Lock()
	defer in.mu.Unlock()
	d := in.t.p.Engine.demux
	if addr == in.routed {
		return
	}
	if in.routed.IsValid() {
		d.Route(in.routed, nil)
	}
	in.routed = addr
	if addr.IsValid() {
		d.Route(addr, &in.in)
	}
}

func (in *inbound) close() {
	in.route(netip.AddrPort{})
	in.t.p.Engine.demux.Forget(&in.in)
}

// streamInfo describes a received stream to the interceptors as pion does: ssrc with the track's
// codec and the connection's header extensions.
func streamInfo(remote *webrtc.TrackRemote, rr *webrtc.RTPReceiver, ssrc uint32, rtx bool) *interceptor.StreamInfo {
	c := remote.Codec()
	info := &interceptor.StreamInfo{
		SSRC:        ssrc,
		PayloadType: uint8(c.PayloadType),
		MimeType:    c.MimeType,
		ClockRate:   c.ClockRate,
		Channels:    c.Channels,
		SDPFmtpLine: c.SDPFmtpLine,
	}
	if !rtx {
		for _, fb := range c.RTCPFeedback {
			info.RTCPFeedback = append(info.RTCPFeedback, interceptor.RTCPFeedback{Type: fb.Type, Parameter: fb.Parameter})
		}
	}
	for _, x := range rr.GetParameters().HeaderExtensions {
		info.RTPHeaderExtensions = append(info.RTPHeaderExtensions, interceptor.RTPHeaderExtension{URI: x.URI, ID: x.ID})
	}
	return info
}

// inbounds finds a receiver's connection from pion's DTLS transport, the one thing of it the
// RTPReceiver knows.
var inbounds sync.Map // *webrtc.DTLSTransport -> *inbound

func inboundOf(rr *webrtc.RTPReceiver) *inbound {
	if rr == nil || rr.Transport() == nil {
		return nil
	}
	if in, ok := inbounds.Load(rr.Transport()); ok {
		return in.(*inbound)
	}
	return nil
}
