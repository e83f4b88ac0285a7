package room

import (
	"sync"
	"sync/atomic"

	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/signaling/routing"
)

// Queue sizes of a signal session. A client that falls this far behind on responses is disconnected
// rather than allowed to hold the room up.
const (
	requestQueue  = 64
	responseQueue = 512
)

// session is the in-process routing.Session between a websocket and a participant.
type session struct {
	reqs  chan *livekit.SignalRequest
	resps chan *livekit.SignalResponse

	mu         sync.Mutex
	respClosed bool
	// opened is set once the first message (JoinResponse, ReconnectResponse or Leave) is queued:
	// clients accept nothing else first, so anything earlier waits in held.
	opened   bool
	held     []*livekit.SignalResponse
	done     chan struct{}
	doneOnce sync.Once
	aborted  atomic.Bool
	abortWhy atomic.Pointer[string]
}

func newSession() *session {
	return &session{
		reqs:  make(chan *livekit.SignalRequest, requestQueue),
		resps: make(chan *livekit.SignalResponse, responseQueue),
		done:  make(chan struct{}),
	}
}

var _ routing.Session = (*session)(nil)

// Send implements routing.Session: a request from the client.
func (s *session) Send(req *livekit.SignalRequest) error {
	select {
	case <-s.done:
		return routing.ErrSessionClosed
	default:
	}
	select {
	case s.reqs <- req:
		return nil
	case <-s.done:
		return routing.ErrSessionClosed
	}
}

// Responses implements routing.Session.
func (s *session) Responses() <-chan *livekit.SignalResponse { return s.resps }

// Close implements routing.Session: the client side went away.
func (s *session) Close() { s.doneOnce.Do(func() { close(s.done) }) }

// Abort implements routing.Session.
func (s *session) Abort(reason string) {
	s.abortWhy.Store(&reason)
	s.aborted.Store(true)
	s.Close()
}

// closed is closed once the client side went away.
func (s *session) closed() <-chan struct{} { return s.done }

// write queues a response. It reports false if the client is gone or too far behind.
func (s *session) write(msg *livekit.SignalResponse) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.respClosed {
		return false
	}
	if !s.opened {
		switch msg.Message.(type) {
		case *livekit.SignalResponse_Join, *livekit.SignalResponse_Reconnect, *livekit.SignalResponse_Leave:
			s.opened = true
			if !s.queueLocked(msg) {
				return false
			}
			for _, h := range s.held {
				if !s.queueLocked(h) {
					return false
				}
			}
			s.held = nil
			return true
		default:
			if len(s.held) >= responseQueue {
				return false
			}
			s.held = append(s.held, msg)
			return true
		}
	}
	return s.queueLocked(msg)
}

func (s *session) queueLocked(msg *livekit.SignalResponse) bool {
	select {
	case s.resps <- msg:
		return true
	default:
		return false
	}
}

// end stops responses; the websocket writer then closes the connection.
func (s *session) end() {
	s.mu.Lock()
	if !s.respClosed {
		s.respClosed = true
		close(s.resps)
	}
	s.mu.Unlock()
	s.Close()
}
