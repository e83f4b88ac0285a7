package room

import (
	"log/slog"
	"time"

	"github.com/pion/webrtc/v4"
)

// Media is the media engine as rooms drive it: a connection per client PeerConnection, the tracks
// published over it and the downtracks that send a track to a subscriber. The room never sees the
// SFU's types, so the meeting's rules can be tested without sockets; sfuMedia is the real one.
type Media interface {
	NewConnection(ConnectionParams) (Connection, error)
}

// ConnectionParams describes a client connection and where its events go.
type ConnectionParams struct {
	// Offerer: the node makes the offers (the subscriber connection in two-connection mode).
	Offerer bool
	Logger  *slog.Logger
	// OnICECandidate receives local candidates; nil means gathering is complete.
	OnICECandidate func(*webrtc.ICECandidateInit)
	OnOffer        func(sdp string, id uint32)
	OnStateChange  func(webrtc.PeerConnectionState)
	// OnTrack is told of each incoming stream (each simulcast layer) once its media arrives.
	OnTrack       func(IncomingTrack)
	OnDataChannel func(DataChannel)
	// AnswerSettle delays media on new receive slots after an answer (see answerSettle).
	AnswerSettle time.Duration
}

// Connection is one client PeerConnection.
type Connection interface {
	// HandleOffer answers the client's offer; missing counts receive slots (audio, video) the
	// client must still offer for what waits to be sent to it.
	HandleOffer(sdp string) (answer string, mids map[string]string, missing [2]int, err error)
	HandleAnswer(sdp string, id uint32) error
	AddICECandidate(webrtc.ICECandidateInit) error
	// Negotiate makes a new offer (offerer connections).
	Negotiate(iceRestart bool)
	CreateDataChannel(label string, lossy bool) (DataChannel, error)
	PreferRED(bool)
	// NewTrack makes the media side of a track the client publishes on this connection.
	NewTrack(TrackParams) MediaTrack
	// Subscribe sends t to the client on this connection. placed is false when a
	// single-connection client must first offer a slot for it (MissingSlots).
	Subscribe(t MediaTrack, p SubscribeParams) (d Downtrack, placed bool, err error)
	Unsubscribe(Downtrack)
	MissingSlots() (audio, video int)
	// Loss is the share of packets the client reports lost on what this connection sends it.
	Loss() float64
	Close()
}

// IncomingTrack is one stream (one simulcast layer) a client sends.
type IncomingTrack interface {
	// ID is the client's track id (msid): what AddTrackRequest's cid names.
	ID() string
	RID() string
	Kind() webrtc.RTPCodecType
	Codec() webrtc.RTPCodecParameters
	Mid() string
}

// TrackParams describes a published track.
type TrackParams struct {
	ID          string
	PublisherID string
	Kind        webrtc.RTPCodecType
	// Encrypted: the publisher encrypts its frames end to end; the SFU passes them as they are.
	Encrypted bool
	Logger    *slog.Logger
	// OnEnded is called once when the client stopped sending every layer.
	OnEnded func()
	// OnDemandChanged is told when subscribers come, go or change what they want; it must not block.
	OnDemandChanged func()
}

// MediaTrack is the media side of a published track.
type MediaTrack interface {
	AddLayer(in IncomingTrack, layer int8)
	Kind() webrtc.RTPCodecType
	// MaxDesiredLayer is the highest layer any subscriber wants (layerOff: none).
	MaxDesiredLayer() int8
	// AudioLevel is the mean level (dBov) since the last call; ok is false without level data.
	AudioLevel() (dBov float64, ok bool)
	// ReceiveStats counts the packets received and lost over all layers since the track began.
	ReceiveStats() (packets, lost uint64)
	// SetPriority sets the allocation priority of every subscriber's copy.
	SetPriority(int)
	Close()
}

// SubscribeParams describes a subscription.
type SubscribeParams struct {
	SubscriberID string
	// StreamID is the msid stream id the subscriber sees.
	StreamID     string
	DesiredLayer int8
	Priority     int
	// OnBound is called when the client's connection takes the track.
	OnBound func()
	// OnClose is called once the downtrack closed, for whatever reason.
	OnClose func()
	// OnStreamState is told when allocation pauses (true) or resumes the track.
	OnStreamState func(paused bool)
}

// Downtrack is one subscriber's copy of a track.
type Downtrack interface {
	SetDesiredLayer(int8)
	SetPaused(bool)
	SetPriority(int)
	Close()
	Done() <-chan struct{}
}

// DataChannel is a client data channel.
type DataChannel interface {
	Label() string
	// Read hands each message to onMessage (nil: discard) from the channel's own reader, once
	// the channel is open; onOpen (may be nil) runs first.
	Read(onOpen func(), onMessage func([]byte))
	Send([]byte) error
	Open() bool
	Close() error
}

// Layers as rooms use them.
const (
	maxLayers = 3
	layerOff  = -1
)
