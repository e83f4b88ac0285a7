package room

import (
	"errors"

	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu"
)

// sfuMedia is Media over the node's SFU engine.
type sfuMedia struct{ engine *sfu.Engine }

// SFUMedia adapts the node's engine for rooms.
func SFUMedia(e *sfu.Engine) Media { return sfuMedia{engine: e} }

func (m sfuMedia) NewConnection(p ConnectionParams) (Connection, error) {
	c := &sfuConn{engine: m.engine}
	role := sfu.RoleAnswerer
	if p.Offerer {
		role = sfu.RoleOfferer
	}
	tp := sfu.TransportParams{
		Engine:         m.engine,
		Role:           role,
		Logger:         p.Logger,
		OnICECandidate: p.OnICECandidate,
		OnStateChange:  p.OnStateChange,
		AnswerSettle:   p.AnswerSettle,
	}
	if p.OnOffer != nil {
		tp.OnOffer = func(o webrtc.SessionDescription, id uint32, _ map[string]string) { p.OnOffer(o.SDP, id) }
	}
	if p.OnTrack != nil {
		tp.OnTrack = func(remote *webrtc.TrackRemote, rr *webrtc.RTPReceiver) {
			p.OnTrack(&sfuIncoming{remote: remote, rr: rr, conn: c})
		}
	}
	if p.OnDataChannel != nil {
		tp.OnDataChannel = func(dc *webrtc.DataChannel) { p.OnDataChannel(sfuData{dc}) }
	}
	t, err := sfu.NewTransport(tp)
	if err != nil {
		return nil, err
	}
	c.t = t
	return c, nil
}

type sfuConn struct {
	engine *sfu.Engine
	t      *sfu.Transport
}

func (c *sfuConn) HandleOffer(sdp string) (string, map[string]string, [2]int, error) {
	a, mids, missing, err := c.t.HandleOffer(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp})
	return a.SDP, mids, missing, err
}

func (c *sfuConn) HandleAnswer(sdp string, id uint32) error {
	return c.t.HandleAnswer(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}, id)
}

func (c *sfuConn) AddICECandidate(ci webrtc.ICECandidateInit) error { return c.t.AddICECandidate(ci) }
func (c *sfuConn) Negotiate(iceRestart bool)                        { c.t.Negotiate(iceRestart) }
func (c *sfuConn) PreferRED(on bool)                                { c.t.PreferRED(on) }
func (c *sfuConn) MissingSlots() (int, int)                         { return c.t.MissingSlots() }
func (c *sfuConn) Loss() float64                                    { return c.t.Estimator().Loss() }
func (c *sfuConn) Close()                                           { c.t.Close() }

func (c *sfuConn) CreateDataChannel(label string, lossy bool) (DataChannel, error) {
	init := &webrtc.DataChannelInit{}
	if lossy {
		ordered := false
		var zero uint16
		init = &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &zero}
	}
	dc, err := c.t.CreateDataChannel(label, init)
	if err != nil {
		return nil, err
	}
	return sfuData{dc}, nil
}

func (c *sfuConn) NewTrack(p TrackParams) MediaTrack {
	return sfuTrack{sfu.NewTrack(sfu.TrackParams{
		ID:              p.ID,
		PublisherID:     p.PublisherID,
		Kind:            p.Kind,
		Encrypted:       p.Encrypted,
		PLIThrottle:     c.engine.PLIThrottle(),
		WriteRTCP:       c.t.WriteRTCP,
		Logger:          p.Logger,
		OnEnded:         p.OnEnded,
		OnDemandChanged: p.OnDemandChanged,
		Stats:           c.engine.Stats(),
		Writers:         c.engine.Writers(),
	})}
}

var errForeignTrack = errors.New("track is not from this media engine")

func (c *sfuConn) Subscribe(mt MediaTrack, p SubscribeParams) (Downtrack, bool, error) {
	st, ok := mt.(sfuTrack)
	if !ok {
		return nil, false, errForeignTrack
	}
	dt := sfu.NewDownTrack(sfu.DownTrackParams{
		Lane:          c.t.Lane(),
		Track:         st.t,
		SubscriberID:  p.SubscriberID,
		StreamID:      p.StreamID,
		DesiredLayer:  p.DesiredLayer,
		OnBound:       p.OnBound,
		OnClose:       p.OnClose,
		OnStreamState: p.OnStreamState,
	})
	dt.SetPriority(p.Priority)
	if !st.t.AddDownTrack(dt) {
		dt.Close()
		return nil, false, errTrackClosed
	}
	placed, err := c.t.AddDownTrack(dt)
	if err != nil {
		dt.Close()
		return nil, false, err
	}
	return dt, placed, nil
}

func (c *sfuConn) Unsubscribe(d Downtrack) {
	if dt, ok := d.(*sfu.DownTrack); ok {
		c.t.RemoveDownTrack(dt)
	}
}

// sfuIncoming is a stream pion received; its mid is looked up when asked.
type sfuIncoming struct {
	remote *webrtc.TrackRemote
	rr     *webrtc.RTPReceiver
	conn   *sfuConn
}

func (i *sfuIncoming) ID() string                       { return i.remote.ID() }
func (i *sfuIncoming) RID() string                      { return i.remote.RID() }
func (i *sfuIncoming) Kind() webrtc.RTPCodecType        { return i.remote.Kind() }
func (i *sfuIncoming) Codec() webrtc.RTPCodecParameters { return i.remote.Codec() }
func (i *sfuIncoming) Mid() string {
	for _, tr := range i.conn.t.PeerConnection().GetTransceivers() {
		if tr.Receiver() == i.rr {
			return tr.Mid()
		}
	}
	return ""
}

type sfuTrack struct{ t *sfu.Track }

func (s sfuTrack) AddLayer(in IncomingTrack, layer int8) {
	if i, ok := in.(*sfuIncoming); ok {
		s.t.AddReceiver(i.remote, i.rr, layer)
	}
}
func (s sfuTrack) Kind() webrtc.RTPCodecType           { return s.t.Kind() }
func (s sfuTrack) MaxDesiredLayer() int8               { return s.t.MaxDesiredLayer() }
func (s sfuTrack) AudioLevel() (dBov float64, ok bool) { return s.t.AudioLevel() }
func (s sfuTrack) Close()                              { s.t.Close() }

func (s sfuTrack) ReceiveStats() (packets, lost uint64) {
	for l := int8(0); l < sfu.MaxLayers; l++ {
		if rc := s.t.Receiver(l); rc != nil {
			pk, _, ls := rc.Stats()
			packets += pk
			if ls > 0 {
				lost += uint64(ls)
			}
		}
	}
	return packets, lost
}

func (s sfuTrack) SetPriority(prio int) {
	for _, dt := range s.t.DownTracks() {
		dt.SetPriority(prio)
	}
}

type sfuData struct{ dc *webrtc.DataChannel }

func (d sfuData) Label() string { return d.dc.Label() }
func (d sfuData) Read(onOpen func(), onMessage func([]byte)) {
	sfu.ReadDataChannel(d.dc, onOpen, onMessage)
}
func (d sfuData) Send(b []byte) error { return d.dc.Send(b) }
func (d sfuData) Open() bool          { return d.dc.ReadyState() == webrtc.DataChannelStateOpen }
func (d sfuData) Close() error        { return d.dc.Close() }
