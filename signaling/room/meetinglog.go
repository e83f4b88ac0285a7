package room

import (
	"sync"
	"time"
)

// maxLogEntries bounds a meeting's log in memory (until accounts persist it).
const maxLogEntries = 5000

// LogEntry is one thing that happened in a meeting: who did what to whom, when, from where.
type LogEntry struct {
	At     int64  `json:"at"` // Unix ms
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	Detail string `json:"detail,omitempty"`
	Addr   string `json:"addr,omitempty"`
}

// meetingLog keeps a meeting's entries in order, the oldest dropped beyond the bound.
type meetingLog struct {
	mu      sync.Mutex
	entries []LogEntry
	dropped int
}

func (l *meetingLog) add(e LogEntry) {
	if e.At == 0 {
		e.At = time.Now().UnixMilli()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= maxLogEntries {
		n := copy(l.entries, l.entries[1:])
		l.entries = l.entries[:n]
		l.dropped++
	}
	l.entries = append(l.entries, e)
}

func (l *meetingLog) list() []LogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LogEntry(nil), l.entries...)
}
