package room

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/internal/tick"
)

// liveness is what tells a gone client from a quiet one: its pings, and the window in which a
// client whose signalling dropped may resume.
type liveness struct {
	lastPing atomic.Int64
	// pinged: the client sends LiveKit pings (the browser and mobile SDKs do; server-sdk-go does
	// not), so going quiet for pingTimeout means it is gone.
	pinged atomic.Bool

	mu          sync.Mutex
	resumeTimer *time.Timer
}

func (l *liveness) pingedNow() {
	l.pingedAt(time.Now())
	l.pinged.Store(true)
}

func (l *liveness) pingedAt(t time.Time) { l.lastPing.Store(t.UnixNano()) }

func (l *liveness) startResumeTimer(d time.Duration, f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.resumeTimer != nil {
		l.resumeTimer.Stop()
	}
	l.resumeTimer = time.AfterFunc(d, f)
}

func (l *liveness) stopResumeTimer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.resumeTimer != nil {
		l.resumeTimer.Stop()
		l.resumeTimer = nil
	}
}

// signalLost starts the resume window after the websocket went away without a leave.
func (p *Participant) signalLost(s *session) {
	if !p.signal.isCurrent(s) || p.closed.Load() {
		return
	}
	if s.aborted.Load() {
		p.log.Info("signal session aborted (a protocol error, or a relay that fell behind); removing the participant", "why", *s.abortWhy.Load())
		p.close(livekit.DisconnectReason_STATE_MISMATCH, false)
		return
	}
	if !p.isActive() {
		// The client gave up before its media connected: it cannot resume a session it never had.
		p.log.Info("signal connection lost before the participant became active; removing it")
		p.close(livekit.DisconnectReason_JOIN_FAILURE, false)
		return
	}
	window := p.env.resumeWindow
	if window <= 0 {
		window = resumeWindow
	}
	p.log.Info("signal connection lost; waiting for the client to resume", "window", window)
	p.live.startResumeTimer(window, func() {
		if p.signal.isCurrent(s) {
			p.close(livekit.DisconnectReason_SIGNAL_CLOSE, true)
		}
	})
}

// upkeep runs the participant's periodic work on one goroutine (one stack and one timer per
// participant instead of one per task): dynacast every 500 ms or when kicked, liveness every second.
func (p *Participant) upkeep() {
	defer p.env.group.Done()
	tick := tick.New(500 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var checked time.Time
	dyn := map[string]*dynacastState{}
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
			tick.Next()
		case <-p.dynacastKick:
		}
		now := time.Now()
		if now.Sub(checked) >= time.Second {
			checked = now
			if !p.checkLiveness(start, now) {
				return
			}
		}
		p.dynacast(dyn, now)
	}
}

// checkLiveness disconnects a client that stopped pinging or never connected its media; it
// reports false when the participant was closed.
func (p *Participant) checkLiveness(start, now time.Time) bool {
	if !p.isActive() && now.Sub(start) > connectTimeout {
		p.log.Info("media connection not established in time")
		p.close(livekit.DisconnectReason_JOIN_FAILURE, true)
		return false
	}
	// A client that never pings is watched at the websocket level instead (see signaling.pump).
	if last := time.Unix(0, p.live.lastPing.Load()); p.live.pinged.Load() && now.Sub(last) > pingTimeout*time.Second {
		s := p.signal.current()
		select {
		case <-s.closed():
			// already in the resume window
		default:
			p.log.Info("client stopped pinging; closing its signal connection")
			s.end()
		}
	}
	return true
}
