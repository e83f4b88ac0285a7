// Package sfu is Hop's media engine: it receives published RTP over pion PeerConnections, stores each
// packet once, and forwards it to subscribers with the layer each one should get.
//
// Per published track there is a Track with one Receiver per simulcast layer and a forwarder; per
// subscription a DownTrack. Transport wraps one pion PeerConnection with the negotiation rules of the
// role it plays. The package knows nothing of rooms, permissions or signalling protocols.
package sfu

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"time"

	"github.com/hop-meet/hop/sfu/forwarder"
	"github.com/hop-meet/hop/sfu/srtpin"
	"github.com/hop-meet/hop/sfu/srtpout"
	"github.com/hop-meet/hop/sfu/udpbatch"
	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Config is what the media engine needs from the node's configuration.
type Config struct {
	// BindAddress for the RTC sockets; empty means all interfaces.
	BindAddress string
	// UDPPort is the single muxed UDP port (0 picks a free one).
	UDPPort int
	// TCPPort is the ICE-TCP port (0 picks a free one, -1 disables ICE-TCP).
	TCPPort int
	// NodeIP, when set, replaces host candidate addresses (1:1 NAT).
	NodeIP string
	// IncludeLoopback offers loopback candidates.
	IncludeLoopback bool
	// PLIThrottle is the minimum interval between keyframe requests per publisher layer.
	PLIThrottle time.Duration
	// LocalIncludes and LocalExcludes choose which local addresses become ICE candidates.
	LocalIncludes, LocalExcludes []*net.IPNet
	// AllowedPeers, when set, are the only remote addresses ICE talks to (the rest of the peer
	// policy does not apply then).
	AllowedPeers []*net.IPNet
	// AllowPrivatePeers: clients at private addresses (RFC 1918, CGNAT 100.64/10, ULA fc00::/7)
	// are talked to. Nil: unless the node advertises a public IPv4 address (see peerPolicy).
	// Loopback, link-local, multicast and unspecified addresses never are.
	AllowPrivatePeers *bool
	// AllowSameMachinePeers accepts this machine's own addresses and loopback as peers, also when
	// the sockets are bound to loopback (dev mode: pion-based clients never offer loopback).
	AllowSameMachinePeers bool
	// RelayPeers are the embedded TURN server's relay addresses: its relays are this node's own
	// sockets, peers whatever the policy above says of their address.
	RelayPeers []net.IP
	Logger     *slog.Logger
}

// ParseCIDRs parses a list of CIDRs.
func ParseCIDRs(list []string) ([]*net.IPNet, error) {
	out := make([]*net.IPNet, 0, len(list))
	for _, s := range list {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, fmt.Errorf("cidr %q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func inAny(ip net.IP, nets []*net.IPNet) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// Engine holds what every PeerConnection of a node shares: the pion API and the muxed sockets.
type Engine struct {
	cfg Config
	log *slog.Logger
	// peers is the remote address policy every connection's ICE filter applies.
	peers *peerPolicy
	me    *webrtc.MediaEngine
	se    webrtc.SettingEngine
	// factories are the interceptors every PeerConnection gets, sendOnly those of a connection
	// that only sends media; each connection builds its own.
	factories, sendOnly []interceptor.Factory
	// demux takes publishers' RTP from the socket before pion's ICE mux (see sfu/srtpin).
	demux *srtpin.Demux
	// stage holds what the socket's reader dispatches until the socket is empty (see
	// forwarder.Stage); only that goroutine uses it.
	stage   *forwarder.Stage
	stats   *Stats
	udpConn net.PacketConn
	batch   *udpbatch.Conn
	writers *forwarder.Pool
	tcpLn   net.Listener
	udpMux  ice.UDPMux
	tcpMux  *tcpMux
}

// NewEngine opens the RTC sockets and prepares the pion API.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PLIThrottle == 0 {
		cfg.PLIThrottle = 500 * time.Millisecond
	}
	e := &Engine{cfg: cfg, log: cfg.Logger.With("component", "sfu"), stats: newStats()}
	e.peers = newPeerPolicy(cfg, net.InterfaceAddrs)
	e.log.Info("remote peer addresses", "allowed_peers", len(cfg.AllowedPeers), "private", e.peers.private,
		"same_machine", cfg.AllowSameMachinePeers, "loopback_only", e.peers.loopbackOnly)
	lf := newPionLoggerFactory(e.log)

	// Reads and sends on separate sockets sharing the port; a forwarded packet's copies to every
	// subscriber leave in one sendmmsg (see sfu/udpbatch).
	udpConn, err := udpbatch.Listen("udp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.UDPPort)), SocketBuffer)
	if err != nil {
		return nil, fmt.Errorf("listen rtc udp port %d: %w", cfg.UDPPort, err)
	}
	e.udpConn = udpConn
	e.batch = udpConn
	e.demux = srtpin.NewDemux()
	e.stats.demux = e.demux
	e.stage = &forwarder.Stage{}
	udpConn.SetTap(e.demux.Tap, e.stage.Flush)
	e.stats.batch = udpConn
	// A writer per core, each with a batch of its own on the socket (see forwarder, udpbatch).
	writers := runtime.GOMAXPROCS(0)
	udpConn.SetLanes(writers)
	e.writers = forwarder.NewPool(writers, udpConn)
	e.udpMux = webrtc.NewICEUDPMux(lf.NewLogger("ice-udp"), udpConn)

	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCPPort >= 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.TCPPort)))
		if err != nil {
			_ = e.udpMux.Close()
			return nil, fmt.Errorf("listen rtc tcp port %d: %w", cfg.TCPPort, err)
		}
		e.tcpLn = ln
		e.tcpMux = newTCPMux(webrtc.NewICETCPMux(lf.NewLogger("ice-tcp"), ln, 32))
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}

	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEUDPMux(e.udpMux)
	if e.tcpMux != nil {
		se.SetICETCPMux(e.tcpMux)
	}
	se.SetNetworkTypes(networks)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	if len(cfg.LocalIncludes) > 0 || len(cfg.LocalExcludes) > 0 {
		se.SetIPFilter(func(ip net.IP) bool {
			if len(cfg.LocalIncludes) > 0 && !inAny(ip, cfg.LocalIncludes) {
				return false
			}
			return !inAny(ip, cfg.LocalExcludes)
		})
	}
	// Each connection filters remote addresses with the peer policy and its own candidate budget
	// (see NewPeerConnection); this one serves a connection made without.
	se.SetRemoteIPFilter(e.peers.allow)
	if cfg.NodeIP != "" {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External:        []string{cfg.NodeIP},
			AsCandidateType: webrtc.ICECandidateTypeHost,
			Mode:            webrtc.ICEAddressRewriteReplace,
		}); err != nil {
			e.Close()
			return nil, fmt.Errorf("node ip %s: %w", cfg.NodeIP, err)
		}
	}
	// Clients on the same machine (tests, a newcomer's two tabs) need no mDNS.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// AES-GCM first: four times cheaper per packet than AES-CM with HMAC-SHA1.
	se.SetSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80)
	se.SetReceiveMTU(1500)
	// Data channels are read by ReadDataChannel, with far smaller buffers than pion's reader.
	se.DetachDataChannels()
	se.SetICETimeouts(5*time.Second, 20*time.Second, 2*time.Second)
	// When the server controls ICE (it offers), pion waits 2 s by default before nominating a pair
	// through a client's TURN relay, hoping for a direct one; clients that need a relay then take
	// seconds longer to join.
	se.SetRelayAcceptanceMinWait(250 * time.Millisecond)
	// Publishers send simulcast layers identified by RID header extensions before any SSRC is signalled.
	se.SetHandleUndeclaredSSRCWithoutAnswer(true)
	// The node is the DTLS server on the connections it answers (on those it offers, browsers and
	// pion choose the client role): only the server's side of the handshake shows the SRTP keys
	// that let it encrypt and send RTP itself (see sfu/srtpout).
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		e.Close()
		return nil, fmt.Errorf("dtls role: %w", err)
	}

	if err := registerCodecs(&webrtc.MediaEngine{}); err != nil {
		e.Close()
		return nil, err
	}
	// Each PeerConnection gets a MediaEngine of its own (see NewPeerConnection), used as it is.
	se.DisableMediaEngineCopy(true)
	factories, sendOnly, err := interceptorFactories()
	if err != nil {
		e.Close()
		return nil, err
	}
	e.se, e.factories, e.sendOnly = se, factories, sendOnly
	return e, nil
}

// UDPAddr is the address of the muxed UDP socket.
func (e *Engine) UDPAddr() net.Addr { return e.udpConn.LocalAddr() }

// TCPAddr is the ICE-TCP listener's address, or nil.
func (e *Engine) TCPAddr() net.Addr {
	if e.tcpLn == nil {
		return nil
	}
	return e.tcpLn.Addr()
}

// Writers is the node's forwarding pool: one writer goroutine per core, each serving whole
// subscriber connections (see forwarder).
func (e *Engine) Writers() *forwarder.Pool { return e.writers }

// Stats are the engine's packet totals.
func (e *Engine) Stats() *Stats { return e.stats }

// PLIThrottle is the configured keyframe request interval.
func (e *Engine) PLIThrottle() time.Duration { return e.cfg.PLIThrottle }

// Logger is the engine's logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// NewPeerConnection makes a PeerConnection on the shared sockets. onRTCP, if set, sees every RTCP
// packet the peer sends (feedback for the bandwidth estimator). A sendOnly connection never
// receives media, and goes without the interceptors that look after received streams (each runs a
// goroutine on a timer). hs (optional) is shown the connection's DTLS handshake, for its SRTP keys. built (optional) is given each interceptor made for the
// connection (see inbound). remoteFilter (optional) replaces the engine's remote address policy
// for the connection (it must apply that policy too).
func (e *Engine) NewPeerConnection(onRTCP func(compound []byte), sendOnly bool, hs *srtpout.Handshake, built func(interceptor.Interceptor), remoteFilter func(net.IP) bool) (*webrtc.PeerConnection, error) {
	ir := &interceptor.Registry{}
	factories := e.factories
	if sendOnly {
		factories = e.sendOnly
	}
	for _, f := range factories {
		if built != nil {
			f = watchedFactory{f, built}
		}
		ir.Add(f)
	}
	if onRTCP != nil {
		ir.Add(rtcpTapFactory{onRTCP})
	}
	// The MediaEngine records what this connection negotiated (payload types, header extension IDs).
	me := &webrtc.MediaEngine{}
	if err := registerCodecs(me); err != nil {
		return nil, err
	}
	se := e.se
	if remoteFilter != nil {
		se.SetRemoteIPFilter(remoteFilter)
	}
	if hs != nil {
		se.SetDTLSKeyLogWriter(hs)
		se.SetDTLSServerHelloMessageHook(hs.ServerHello)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se), webrtc.WithInterceptorRegistry(ir))
	return api.NewPeerConnection(webrtc.Configuration{
		BundlePolicy:  webrtc.BundlePolicyMaxBundle,
		RTCPMuxPolicy: webrtc.RTCPMuxPolicyRequire,
		// RTP header extensions travel in clear, as with every browser today (cryptex, RFC 9335,
		// is off in them by default): the node's own SRTP sender does not encrypt them.
		RTPHeaderEncryptionPolicy: webrtc.RTPHeaderEncryptionPolicyDisable,
	})
}

// Close releases the sockets.
func (e *Engine) Close() {
	if e.udpMux != nil {
		_ = e.udpMux.Close()
	}
	if e.tcpMux != nil {
		_ = e.tcpMux.Close()
	}
	if e.tcpLn != nil {
		_ = e.tcpLn.Close()
	}
	if e.udpConn != nil {
		_ = e.udpConn.Close()
	}
	if e.writers != nil {
		e.writers.Close()
	}
}

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"}, {Type: webrtc.TypeRTCPFBTransportCC}, {Type: "ccm", Parameter: "fir"},
	{Type: "nack"}, {Type: "nack", Parameter: "pli"},
}

// audioCodecs are the audio codecs Hop forwards, Opus first.
// Audio asks for NACKs too: with the packet cache a lost audio packet comes back within a round
// trip, well inside the receiver's jitter buffer on the paths meetings run over.
var audioFeedback = []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}, {Type: "nack"}}

var audioCodecs = []webrtc.RTPCodecParameters{
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1", RTCPFeedback: audioFeedback}, PayloadType: 111},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeRED, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "111/111", RTCPFeedback: audioFeedback}, PayloadType: 63},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeG722, ClockRate: 8000}, PayloadType: 9},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0},
	{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000}, PayloadType: 8},
}

const mimeRED = "audio/red"

// redFirst is the audio preference for publishers: RED (RFC 2198, each packet also carrying the
// previous frames) survives loss far better than plain Opus, and subscribers that cannot take it
// get the primary Opus frame.
var redFirst = append([]webrtc.RTPCodecParameters{audioCodecs[1], audioCodecs[0]}, audioCodecs[2:]...)

// registerCodecs lists what Hop forwards: Opus (with RED), VP8, VP9, H.264, AV1, and the G.711/G.722
// audio that SIP room systems speak; each video codec with RTX.
func registerCodecs(me *webrtc.MediaEngine) error {
	for _, c := range audioCodecs {
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			return fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	type vc struct {
		mime, fmtp string
		pt, rtx    webrtc.PayloadType
	}
	video := []vc{
		{webrtc.MimeTypeVP8, "", 96, 97},
		{webrtc.MimeTypeVP9, "profile-id=0", 98, 99},
		{webrtc.MimeTypeVP9, "profile-id=2", 100, 101},
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 102, 103},
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 104, 105},
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f", 106, 107},
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032", 108, 109},
		{webrtc.MimeTypeAV1, "", 35, 36},
	}
	for _, c := range video {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: c.mime, ClockRate: 90000, SDPFmtpLine: c.fmtp, RTCPFeedback: videoFeedback}, PayloadType: c.pt},
			webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("register %s: %w", c.mime, err)
		}
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", c.pt)}, PayloadType: c.rtx},
			webrtc.RTPCodecTypeVideo); err != nil {
			return fmt.Errorf("register rtx for %s: %w", c.mime, err)
		}
	}
	exts := []struct {
		uri   string
		kinds []webrtc.RTPCodecType
	}{
		{sdp.SDESMidURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		{sdp.SDESRTPStreamIDURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{sdp.SDESRepairRTPStreamIDURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
		{sdp.TransportCCURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}},
		{sdp.AudioLevelURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio}},
		{sdp.ABSSendTimeURI, []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}},
	}
	for _, x := range exts {
		for _, k := range x.kinds {
			if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: x.uri}, k); err != nil {
				return fmt.Errorf("register extension %s: %w", x.uri, err)
			}
		}
	}
	return nil
}

// interceptorFactories are the RTCP machinery towards publishers (receiver reports, transport-wide
// congestion feedback). NACKs to publishers come from each Receiver as packets arrive (see
// sfu/nackgen), not from pion's generator, whose timer woke an idle core every 20 ms per
// publisher. Towards subscribers, DownTracks stamp transport-wide sequence numbers themselves (feeding the bandwidth estimator), answer NACKs from the packet cache
// and report what they sent (Transport.sendReports), so pion's TWCC header interceptor, NACK
// responder (which would keep a second copy of every packet sent) and sender-report interceptor
// (a lock and a clock read per packet) are not installed: nothing intercepts the packets sent.
// sendOnly is the subset for a connection that sends only (none).
func interceptorFactories() (all, sendOnly []interceptor.Factory, err error) {
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("receiver reports: %w", err)
	}
	fb, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("twcc feedback: %w", err)
	}
	return []interceptor.Factory{rr, fb}, nil, nil
}

// watchedFactory tells built of each interceptor f makes.
type watchedFactory struct {
	f     interceptor.Factory
	built func(interceptor.Interceptor)
}

func (w watchedFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := w.f.NewInterceptor(id)
	if err == nil {
		w.built(i)
	}
	return i, err
}

// rtcpTapFactory installs an interceptor that shows every incoming compound RTCP packet to a
// callback, unparsed.
type rtcpTapFactory struct{ on func([]byte) }

func (f rtcpTapFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &rtcpTap{on: f.on}, nil
}

type rtcpTap struct {
	interceptor.NoOp
	on func([]byte)
}

func (t *rtcpTap) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err == nil {
			t.on(b[:n])
		}
		return n, a, err
	})
}
