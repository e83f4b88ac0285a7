package leak_test

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// mediaClient is a server-sdk-go participant that notes when the tracks it subscribed to carry
// media and when other participants leave. Its methods return errors rather than failing a test:
// the churn's workers are not test goroutines.
type mediaClient struct {
	room *lksdk.Room
	// flowing is closed once an audio and a video track have each delivered some packets.
	flowing chan struct{}
	mu      sync.Mutex
	packets map[webrtc.RTPCodecType]int
	flowed  bool
	// gone receives the identity of each participant that leaves.
	gone chan string
}

// packetsForFlow is how many packets of each kind show that media flows through the node.
const packetsForFlow = 10

func joinMedia(wsURL, token string, singlePC bool) (*mediaClient, error) {
	c := &mediaClient{flowing: make(chan struct{}), packets: map[webrtc.RTPCodecType]int{}, gone: make(chan string, 8)}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
		go func() {
			for {
				if _, _, err := tr.ReadRTP(); err != nil {
					return
				}
				c.count(tr.Kind())
			}
		}()
	}
	cb.OnParticipantDisconnected = func(rp *lksdk.RemoteParticipant) {
		select {
		case c.gone <- rp.Identity():
		default:
		}
	}
	opts := []lksdk.ConnectOption{
		lksdk.WithAutoSubscribe(true),
		lksdk.WithICETransportPolicy(webrtc.ICETransportPolicyRelay),
		lksdk.WithDisableRegionDiscovery(),
		lksdk.WithConnectTimeout(15 * time.Second),
	}
	if singlePC {
		opts = append(opts, lksdk.WithSinglePeerConnection())
	}
	room, err := lksdk.ConnectToRoomWithToken(wsURL, token, cb, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	c.room = room
	return c, nil
}

func (c *mediaClient) count(kind webrtc.RTPCodecType) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.packets[kind]++
	if !c.flowed && c.packets[webrtc.RTPCodecTypeAudio] >= packetsForFlow && c.packets[webrtc.RTPCodecTypeVideo] >= packetsForFlow {
		c.flowed = true
		close(c.flowing)
	}
}

// publish sends an Opus and a VP8 file as two tracks.
func (c *mediaClient) publish(opus, vp8 string) error {
	for _, f := range []struct {
		path, name string
		frame      time.Duration
	}{{opus, "mic", 20 * time.Millisecond}, {vp8, "cam", 33 * time.Millisecond}} {
		tr, err := lksdk.NewLocalFileTrack(f.path, lksdk.ReaderTrackWithFrameDuration(f.frame))
		if err != nil {
			return err
		}
		if _, err := c.room.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: f.name, VideoWidth: 320, VideoHeight: 180}); err != nil {
			return fmt.Errorf("publish %s: %w", f.name, err)
		}
	}
	return nil
}

func (c *mediaClient) waitFlowing(timeout time.Duration) error {
	select {
	case <-c.flowing:
		return nil
	case <-time.After(timeout):
		c.mu.Lock()
		defer c.mu.Unlock()
		return fmt.Errorf("media did not flow within %v: %d audio, %d video packets", timeout,
			c.packets[webrtc.RTPCodecTypeAudio], c.packets[webrtc.RTPCodecTypeVideo])
	}
}

func (c *mediaClient) waitGone(identity string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case id := <-c.gone:
			if id == identity {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("%s did not leave within %v", identity, timeout)
		}
	}
}

// rawClient is a hand-driven signalling connection on /rtc, for the cases that need no media.
type rawClient struct {
	conn *websocket.Conn
	msgs chan *livekit.SignalResponse
}

// dialRaw opens /rtc with token; query adds parameters (such as a resume's reconnect and sid).
func dialRaw(wsURL, token, query string) (*rawClient, error) {
	u := wsURL + "/rtc?auto_subscribe=1&protocol=17&sdk=js&access_token=" + url.QueryEscape(token) + query
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(u, nil)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return nil, fmt.Errorf("dial: %w: %s %s", err, resp.Status, b)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	c := &rawClient{conn: conn, msgs: make(chan *livekit.SignalResponse, 64)}
	go func() {
		defer close(c.msgs)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var m livekit.SignalResponse
			if proto.Unmarshal(b, &m) == nil {
				select {
				case c.msgs <- &m:
				default: // nobody reads what follows the awaited message
				}
			}
		}
	}()
	return c, nil
}

var errClosed = errors.New("server closed the connection")

// await returns the first message matching want.
func (c *rawClient) await(timeout time.Duration, want func(*livekit.SignalResponse) bool) (*livekit.SignalResponse, error) {
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return nil, errClosed
			}
			if want(m) {
				return m, nil
			}
		case <-deadline:
			return nil, fmt.Errorf("no matching message within %v", timeout)
		}
	}
}

// awaitClose waits for the server to close the connection.
func (c *rawClient) awaitClose(timeout time.Duration) error {
	_, err := c.await(timeout, func(*livekit.SignalResponse) bool { return false })
	if errors.Is(err, errClosed) {
		return nil
	}
	return err
}

func (c *rawClient) send(req *livekit.SignalRequest) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	return c.conn.WriteMessage(websocket.BinaryMessage, b)
}
