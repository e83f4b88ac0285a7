package room

import (
	"errors"
	"sync"

	"github.com/pion/webrtc/v4"
)

// fakeMedia stands in for the SFU: connections that connect when told, tracks that count their
// subscribers. No sockets, no goroutines.
type fakeMedia struct {
	mu    sync.Mutex
	conns []*fakeConn
}

func (m *fakeMedia) NewConnection(p ConnectionParams) (Connection, error) {
	c := &fakeConn{p: p}
	m.mu.Lock()
	m.conns = append(m.conns, c)
	m.mu.Unlock()
	return c, nil
}

func (m *fakeMedia) all() []*fakeConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*fakeConn(nil), m.conns...)
}

type fakeConn struct {
	p ConnectionParams

	mu      sync.Mutex
	closed  bool
	offers  int
	answers int
	downs   []*fakeDown
}

func (c *fakeConn) HandleOffer(sdp string) (string, map[string]string, [2]int, error) {
	if sdp == "garbage" {
		return "", nil, [2]int{}, errors.New("sdp: malformed")
	}
	c.mu.Lock()
	c.answers++
	c.mu.Unlock()
	return "v=0 answer", map[string]string{}, [2]int{}, nil
}

func (c *fakeConn) HandleAnswer(string, uint32) error             { return nil }
func (c *fakeConn) AddICECandidate(webrtc.ICECandidateInit) error { return nil }
func (c *fakeConn) PreferRED(bool)                                {}
func (c *fakeConn) MissingSlots() (int, int)                      { return 0, 0 }
func (c *fakeConn) Loss() float64                                 { return 0 }

func (c *fakeConn) Negotiate(bool) {
	c.mu.Lock()
	c.offers++
	n := c.offers
	c.mu.Unlock()
	if c.p.OnOffer != nil {
		c.p.OnOffer("v=0 offer", uint32(n))
	}
}

func (c *fakeConn) CreateDataChannel(label string, _ bool) (DataChannel, error) {
	return &fakeDataChannel{label: label}, nil
}

func (c *fakeConn) NewTrack(p TrackParams) MediaTrack { return &fakeTrack{p: p} }

func (c *fakeConn) Subscribe(t MediaTrack, p SubscribeParams) (Downtrack, bool, error) {
	ft := t.(*fakeTrack)
	d := &fakeDown{track: ft, params: p, layer: p.DesiredLayer, done: make(chan struct{})}
	if !ft.add(d) {
		return nil, false, errTrackClosed
	}
	c.mu.Lock()
	c.downs = append(c.downs, d)
	c.mu.Unlock()
	return d, true, nil
}

func (c *fakeConn) Unsubscribe(d Downtrack) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.downs {
		if x == d {
			c.downs = append(c.downs[:i], c.downs[i+1:]...)
			return
		}
	}
}

func (c *fakeConn) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

func (c *fakeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// connect reports the connection up, as pion would once ICE and DTLS complete.
func (c *fakeConn) connect() { c.p.OnStateChange(webrtc.PeerConnectionStateConnected) }

// send makes media of a track arrive on this connection.
func (c *fakeConn) send(id string, kind webrtc.RTPCodecType) {
	mime := webrtc.MimeTypeOpus
	if kind == webrtc.RTPCodecTypeVideo {
		mime = webrtc.MimeTypeVP8
	}
	c.p.OnTrack(&fakeIncoming{id: id, kind: kind, codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime}}})
}

type fakeIncoming struct {
	id    string
	kind  webrtc.RTPCodecType
	codec webrtc.RTPCodecParameters
}

func (i *fakeIncoming) ID() string                       { return i.id }
func (i *fakeIncoming) RID() string                      { return "" }
func (i *fakeIncoming) Kind() webrtc.RTPCodecType        { return i.kind }
func (i *fakeIncoming) Codec() webrtc.RTPCodecParameters { return i.codec }
func (i *fakeIncoming) Mid() string                      { return "0" }

type fakeTrack struct {
	p TrackParams

	mu     sync.Mutex
	closed bool
	downs  map[*fakeDown]bool
}

func (t *fakeTrack) add(d *fakeDown) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	if t.downs == nil {
		t.downs = map[*fakeDown]bool{}
	}
	t.downs[d] = true
	return true
}

func (t *fakeTrack) remove(d *fakeDown) {
	t.mu.Lock()
	delete(t.downs, d)
	t.mu.Unlock()
}

func (t *fakeTrack) subscribers() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.downs)
}

func (t *fakeTrack) AddLayer(IncomingTrack, int8)   {}
func (t *fakeTrack) Kind() webrtc.RTPCodecType      { return t.p.Kind }
func (t *fakeTrack) AudioLevel() (float64, bool)    { return -127, false }
func (t *fakeTrack) ReceiveStats() (uint64, uint64) { return 0, 0 }
func (t *fakeTrack) SetPriority(int)                {}
func (t *fakeTrack) MaxDesiredLayer() int8          { return layerOff }

func (t *fakeTrack) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	downs := t.downs
	t.downs = nil
	t.mu.Unlock()
	for d := range downs {
		d.finish()
	}
}

func (t *fakeTrack) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

type fakeDown struct {
	track  *fakeTrack
	params SubscribeParams

	mu     sync.Mutex
	layer  int8
	paused bool
	once   sync.Once
	done   chan struct{}
}

func (d *fakeDown) SetDesiredLayer(l int8) { d.mu.Lock(); d.layer = l; d.mu.Unlock() }
func (d *fakeDown) SetPaused(p bool)       { d.mu.Lock(); d.paused = p; d.mu.Unlock() }
func (d *fakeDown) SetPriority(int)        {}
func (d *fakeDown) Done() <-chan struct{}  { return d.done }
func (d *fakeDown) Close() {
	d.track.remove(d)
	d.finish()
}

func (d *fakeDown) finish() {
	d.once.Do(func() {
		close(d.done)
		if d.params.OnClose != nil {
			d.params.OnClose()
		}
	})
}

func (d *fakeDown) desired() int8 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.layer
}

// fakeDataChannel is open at once and records what the server sends on it.
type fakeDataChannel struct {
	label string
	mu    sync.Mutex
	sent  [][]byte
}

func (f *fakeDataChannel) Label() string { return f.label }
func (f *fakeDataChannel) Read(onOpen func(), _ func([]byte)) {
	if onOpen != nil {
		onOpen()
	}
}
func (f *fakeDataChannel) Send(b []byte) error {
	f.mu.Lock()
	f.sent = append(f.sent, append([]byte(nil), b...))
	f.mu.Unlock()
	return nil
}
func (f *fakeDataChannel) Open() bool   { return true }
func (f *fakeDataChannel) Close() error { return nil }

func (f *fakeDataChannel) messages() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.sent...)
}
