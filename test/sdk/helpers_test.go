package sdk_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/sfu/codecs"
)

// vp8KeyframeSize reads the frame size from the first packet of a VP8 keyframe (RFC 6386 §9.1).
func vp8KeyframeSize(payload []byte) (w, h int, ok bool) {
	d, ok := codecs.ParseVP8(payload)
	if !ok || !d.IsKeyframe {
		return 0, 0, false
	}
	f := payload[d.HeaderSize:]
	if len(f) < 10 || f[3] != 0x9d || f[4] != 0x01 || f[5] != 0x2a {
		return 0, 0, false
	}
	return int(f[6]) | int(f[7]&0x3f)<<8, int(f[8]) | int(f[9]&0x3f)<<8, true
}

// waitKeyframe waits for a keyframe of the given size on r.
func waitKeyframe(t *testing.T, who string, r *received, w, h int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	var seen [][2]int
	for {
		select {
		case k := <-r.keyframes:
			if k[0] == w && k[1] == h {
				return
			}
			seen = append(seen, k)
		case <-deadline:
			t.Fatalf("%s: no %dx%d keyframe within %v (saw %v)", who, w, h, timeout, seen)
		}
	}
}

// received records what one subscriber got from one remote track.
type received struct {
	mu       sync.Mutex
	mime     string
	packets  int
	gaps     int   // sequence numbers skipped
	gapAt    []int // packet counts at which gaps were seen (the first few)
	reorders int   // packets older than one already seen, and not seen before
	dups     int   // packets seen twice (retransmissions, bandwidth probes)
	seen     [1024]uint32
	lastSeq  uint16
	started  bool
	ssrcs    map[uint32]bool
	width    int
	done     chan struct{}
	want     int
	doneOnce sync.Once
	// keyframes receives the dimensions of each VP8 keyframe.
	keyframes chan [2]int
	// arrived is signalled (without blocking) whenever a packet is counted.
	arrived chan struct{}
}

// count returns the packets counted so far.
func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.packets
}

// waitCount waits until at least n packets were counted.
func (r *received) waitCount(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for r.count() < n {
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("got %d packets within %v, want %d", r.count(), timeout, n)
		}
	}
}

func (r *received) add(seq uint16, ssrc uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ssrcs == nil {
		r.ssrcs = map[uint32]bool{}
	}
	r.ssrcs[ssrc] = true
	if r.seen[seq%1024] == uint32(seq)+1 {
		r.dups++
		return
	}
	r.seen[seq%1024] = uint32(seq) + 1
	if r.started {
		d := seq - r.lastSeq
		switch {
		case d == 0 || d >= 0x8000:
			r.reorders++
			return
		case d > 1:
			r.gaps += int(d - 1)
			if len(r.gapAt) < 8 {
				r.gapAt = append(r.gapAt, r.packets)
			}
		}
	}
	r.started = true
	r.lastSeq = seq
	r.packets++
	select {
	case r.arrived <- struct{}{}:
	default:
	}
	if r.packets >= r.want {
		r.doneOnce.Do(func() { close(r.done) })
	}
}

// client is one SDK participant with what it received, by publisher identity and track kind.
type client struct {
	t    *testing.T
	room *lksdk.Room
	mu   sync.Mutex
	got  map[string]*received // "identity/kind"
	want int
	data chan lksdk.DataReceiveParams
	msgs chan []byte
}

func (c *client) track(key string) *received {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.got[key]
	if !ok {
		r = &received{done: make(chan struct{}), want: c.want, keyframes: make(chan [2]int, 256), arrived: make(chan struct{}, 1)}
		c.got[key] = r
	}
	return r
}

// signallingModes are the two ways a LiveKit client connects: a publisher and a subscriber
// PeerConnection (/rtc), or one for both (/rtc/v1).
var signallingModes = []struct {
	name     string
	singlePC bool
}{{"dual-pc", false}, {"single-pc", true}}

type connectOpts struct {
	singlePC      bool
	autoSubscribe bool
	extra         []lksdk.ConnectOption
	// onSubscribed runs when a remote track is subscribed (to change its settings).
	onSubscribed func(*lksdk.RemoteTrackPublication)
	// token replaces the default (all-allowing) join token.
	token string
	// callbacks adds callbacks of its own to the room's.
	callbacks func(*lksdk.RoomCallback)
	// url replaces the node's URL (to go through a proxy).
	url string
}

// connect joins room as identity with the Go SDK, recording every packet of every subscribed track.
func connect(t *testing.T, n *testkit.Node, roomName, identity string, o connectOpts, want int) *client {
	t.Helper()
	c := &client{t: t, got: map[string]*received{}, want: want, data: make(chan lksdk.DataReceiveParams, 16), msgs: make(chan []byte, 16)}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		r := c.track(rp.Identity() + "/" + tr.Kind().String())
		byName := c.track(rp.Identity() + "/" + pub.Name())
		if o.onSubscribed != nil {
			o.onSubscribed(pub)
		}
		r.mu.Lock()
		r.mime = tr.Codec().MimeType
		r.mu.Unlock()
		go func() {
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				r.add(pkt.SequenceNumber, pkt.SSRC)
				byName.add(pkt.SequenceNumber, pkt.SSRC)
				if w, h, ok := vp8KeyframeSize(pkt.Payload); ok && strings.EqualFold(tr.Codec().MimeType, "video/vp8") {
					select {
					case r.keyframes <- [2]int{w, h}:
					default:
					}
				}
			}
		}()
	}
	cb.OnDataPacket = func(d lksdk.DataPacket, params lksdk.DataReceiveParams) {
		if u, ok := d.(*lksdk.UserDataPacket); ok {
			if strings.HasPrefix(u.Topic, "hop.") {
				return // the meeting's own messages to the app (settings, notices)
			}
			select {
			case c.msgs <- u.Payload:
			default:
			}
		}
		select {
		case c.data <- params:
		default:
		}
	}
	if o.callbacks != nil {
		o.callbacks(cb)
	}
	opts := []lksdk.ConnectOption{
		lksdk.WithAutoSubscribe(o.autoSubscribe),
		lksdk.WithICETransportPolicy(webrtc.ICETransportPolicyRelay),
		lksdk.WithDisableRegionDiscovery(),
		// The SDK gives up after 5 s by default; a loaded 2-core CI machine can need longer.
		lksdk.WithConnectTimeout(15 * time.Second),
	}
	if o.singlePC {
		opts = append(opts, lksdk.WithSinglePeerConnection())
	}
	opts = append(opts, o.extra...)
	tok := o.token
	if tok == "" {
		tok = n.Token(t, roomName, identity)
	}
	url := o.url
	if url == "" {
		url = n.URL()
	}
	room, err := lksdk.ConnectToRoomWithToken(url, tok, cb, opts...)
	if err != nil {
		t.Fatalf("%s: connect: %v", identity, err)
	}
	c.room = room
	t.Cleanup(room.Disconnect)
	return c
}

// waitFor waits until the track from identity of kind (an RTPCodecType, or a track name) has
// delivered its packets.
func (c *client) waitFor(identity string, kind any, timeout time.Duration) *received {
	c.t.Helper()
	r := c.track(identity + "/" + fmt.Sprint(kind))
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.mu.Lock()
		defer r.mu.Unlock()
		c.t.Fatalf("%s: from %s/%s got %d packets in %v, want %d", c.room.LocalParticipant.Identity(), identity, kind, r.packets, timeout, r.want)
	}
	return r
}

// publishFile publishes an encoded media file as a track.
func publishFile(t *testing.T, c *client, path string, frame time.Duration, name string) {
	t.Helper()
	tr, err := lksdk.NewLocalFileTrack(path, lksdk.ReaderTrackWithFrameDuration(frame))
	if err != nil {
		t.Fatalf("file track %s: %v", path, err)
	}
	if _, err := c.room.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: name, VideoWidth: 640, VideoHeight: 360}); err != nil {
		t.Fatalf("publish %s: %v", name, err)
	}
}
