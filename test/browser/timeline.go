package browser

import "time"

// Sample is one timeline sample of a participant (Participant.TimelineMs): its PeerConnections'
// stats read at one instant. Counters are cumulative, as in WebRTC's stats.
type Sample struct {
	// At is when the sample was taken: the page's Date.now(), Unix milliseconds (the same clock as
	// the Go test's time.Now()).
	At        int64            `json:"at"`
	Remotes   []RemoteSample   `json:"remotes"`
	Local     *LocalSample     `json:"local"`
	Transport *TransportSample `json:"transport"`
}

// Time is At as a time.Time.
func (s Sample) Time() time.Time { return time.UnixMilli(s.At) }

// Remote returns the sample's entry for remote participant identity, or nil.
func (s Sample) Remote(identity string) *RemoteSample {
	for i := range s.Remotes {
		if s.Remotes[i].Identity == identity {
			return &s.Remotes[i]
		}
	}
	return nil
}

// RemoteSample is what a participant receives from one remote participant: the inbound-rtp
// stats of its camera video and its microphone (nil until subscribed).
type RemoteSample struct {
	Identity string        `json:"identity"`
	Video    *VideoInbound `json:"video"`
	Audio    *AudioInbound `json:"audio"`
}

// VideoInbound is the inbound-rtp of a remote camera track, with its <video> element's size.
type VideoInbound struct {
	FrameWidth           int     `json:"frameWidth"`    // size of the last decoded frame
	FrameHeight          int     `json:"frameHeight"`   //
	ElementWidth         int     `json:"elementWidth"`  // <video>.videoWidth
	ElementHeight        int     `json:"elementHeight"` // <video>.videoHeight
	FramesDecoded        int     `json:"framesDecoded"`
	FramesReceived       int     `json:"framesReceived"`
	FramesDropped        int     `json:"framesDropped"`
	KeyFramesDecoded     int     `json:"keyFramesDecoded"`
	FramesPerSecond      float64 `json:"framesPerSecond"`
	PacketsReceived      int     `json:"packetsReceived"`
	PacketsLost          int     `json:"packetsLost"`
	BytesReceived        int64   `json:"bytesReceived"`
	NackCount            int     `json:"nackCount"`
	PliCount             int     `json:"pliCount"`
	FirCount             int     `json:"firCount"`
	FreezeCount          int     `json:"freezeCount"`
	TotalFreezesDuration float64 `json:"totalFreezesDuration"` // seconds
	PauseCount           int     `json:"pauseCount"`
	TotalPausesDuration  float64 `json:"totalPausesDuration"` // seconds
	JitterBufferDelay    float64 `json:"jitterBufferDelay"`   // seconds, summed over emitted frames
	JitterBufferEmitted  int64   `json:"jitterBufferEmittedCount"`
	// RetransmittedPacketsReceived counts RTX packets (retransmissions and RTX padding probes).
	RetransmittedPacketsReceived int    `json:"retransmittedPacketsReceived"`
	RetransmittedBytesReceived   int64  `json:"retransmittedBytesReceived"`
	StreamState                  string `json:"streamState"` // livekit-client's: active, paused
	Codec                        string `json:"codec"`
}

// AudioInbound is the inbound-rtp of a remote microphone track.
type AudioInbound struct {
	PacketsReceived                int     `json:"packetsReceived"`
	PacketsLost                    int     `json:"packetsLost"`
	PacketsDiscarded               int     `json:"packetsDiscarded"`
	FECPacketsReceived             int     `json:"fecPacketsReceived"`
	BytesReceived                  int64   `json:"bytesReceived"`
	TotalSamplesReceived           int64   `json:"totalSamplesReceived"`
	ConcealedSamples               int64   `json:"concealedSamples"`
	SilentConcealedSamples         int64   `json:"silentConcealedSamples"`
	ConcealmentEvents              int     `json:"concealmentEvents"`
	InsertedSamplesForDeceleration int64   `json:"insertedSamplesForDeceleration"`
	RemovedSamplesForAcceleration  int64   `json:"removedSamplesForAcceleration"`
	TotalAudioEnergy               float64 `json:"totalAudioEnergy"`
	AudioLevel                     float64 `json:"audioLevel"`
	JitterBufferDelay              float64 `json:"jitterBufferDelay"`
	JitterBufferEmitted            int64   `json:"jitterBufferEmittedCount"`
	Codec                          string  `json:"codec"`
}

// LocalSample is what the participant sends: one outbound-rtp per simulcast layer of its camera
// (sorted by rid: "f", "h", "q"), and its microphone's.
type LocalSample struct {
	Video []OutboundStream `json:"video"`
	Audio []OutboundStream `json:"audio"`
}

// Layer returns the outbound video layer with that rid, or nil.
func (l *LocalSample) Layer(rid string) *OutboundStream {
	if l == nil {
		return nil
	}
	for i := range l.Video {
		if l.Video[i].RID == rid {
			return &l.Video[i]
		}
	}
	return nil
}

// VideoBytesSent sums bytesSent over the video layers.
func (l *LocalSample) VideoBytesSent() int64 {
	if l == nil {
		return 0
	}
	var n int64
	for _, v := range l.Video {
		n += v.BytesSent
	}
	return n
}

// TransportSample sums the selected candidate pairs of the participant's PeerConnections.
type TransportSample struct {
	BytesSent                int64   `json:"bytesSent"`
	BytesReceived            int64   `json:"bytesReceived"`
	AvailableOutgoingBitrate float64 `json:"availableOutgoingBitrate"` // bits/s, the sender's estimate
	CurrentRoundTripTime     float64 `json:"currentRoundTripTime"`     // seconds
}

// Event is something livekit-client reported in a page (or run.mjs's "joining", just before it
// connects), with the page's Date.now().
type Event struct {
	At     int64  `json:"at"`
	Kind   string `json:"kind"`   // connected, published, trackSubscribed, streamState, connectionQuality, …
	Detail string `json:"detail"` // e.g. "pub camera paused"
}
