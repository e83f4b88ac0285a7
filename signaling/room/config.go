package room

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
)

// Config is what rooms need from the node; the composition root builds it from the YAML.
type Config struct {
	NodeID string
	Region string
	// AutoCreate makes a room on its first join; otherwise rooms come from CreateRoom.
	AutoCreate bool
	// EmptyTimeout closes a room nobody joined; DepartureTimeout one its last participant left.
	EmptyTimeout     time.Duration
	DepartureTimeout time.Duration
	// MaxParticipants caps each room (0: no cap); CreateRoom and tokens may only lower it.
	MaxParticipants int
	// NodeParticipants caps all rooms of the node together (0: no cap).
	NodeParticipants int
	// AllowRemoteUnmute lets administrators unmute others' tracks.
	AllowRemoteUnmute bool
	// ResumeWindow keeps a participant whose signalling dropped this long for it to resume.
	ResumeWindow time.Duration
	// LobbyWait is how long a knock waits for a host before it is told nobody answered (0: 10 min).
	LobbyWait time.Duration
	Limits    Limits
	// ICEServers returns the STUN/TURN servers handed to a participant (TURN credentials are per
	// participant); nil means none.
	ICEServers func(participantSID string) []*livekit.ICEServer
	Logger     *slog.Logger
}

// Limits bound what a client may send.
type Limits struct {
	// MaxDataPacket bounds a data packet (0: no bound).
	MaxDataPacket int
	// MaxMetadata bounds a participant's metadata, name and attributes together (0: no bound).
	MaxMetadata int
}

// env is what a room hands its participants: the node's settings and media, so that no
// participant reaches through its room to the manager.
type env struct {
	media        Media
	limits       Limits
	resumeWindow time.Duration
	lobbyWait    time.Duration
	nodeID       string
	region       string
	iceServers   func(participantSID string) []*livekit.ICEServer
	// group counts participants' goroutines; only the manager waits for it, at shutdown.
	group *sync.WaitGroup
	// maxParticipants is the operator's cap per room (0: none).
	maxParticipants int
	// fullRefusals counts joins refused because a room was full.
	fullRefusals *atomic.Uint64
	// recorder records whole meetings when their hosts ask (nil: this node does not record).
	recorder MeetingRecorder
	// events hears what happens in rooms (webhooks); nil: nobody listens.
	events Events
}

func (e *env) serverInfo() *livekit.ServerInfo {
	return &livekit.ServerInfo{
		Edition:  livekit.ServerInfo_Standard,
		Version:  ServerVersion,
		Protocol: ProtocolVer,
		Region:   e.region,
		NodeId:   e.nodeID,
	}
}

func (e *env) iceServersFor(sid string) []*livekit.ICEServer {
	if e.iceServers != nil {
		return e.iceServers(sid)
	}
	return nil
}
