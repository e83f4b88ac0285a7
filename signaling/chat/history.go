// Package chat keeps a room's recent chat so that people who join later can read it.
//
// The room adds every reliable data packet it forwards to everyone (History.Add keeps only
// chat), and gives a newcomer the kept packets (History.Replay) once its reliable data channel
// is open, before any live packet: the client receives them exactly as it receives live chat.
package chat

import (
	"sync"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"
)

// Topic is the data-packet topic LiveKit's chat components (and Hop's page) use for chat.
const Topic = "lk-chat-topic"

// Limits bound a room's history.
type Limits struct {
	Messages int // most messages kept (default 200)
	Bytes    int // most encoded bytes kept (default 256 KiB)
}

// History is one room's recent chat, oldest first. Safe for concurrent use.
type History struct {
	mu     sync.Mutex
	lim    Limits
	msgs   []entry
	bytes  int
	byID   map[string]int // ChatMessage id → index in msgs, for edits and deletions
	offset int            // messages dropped from the front since byID's indices were taken
}

type entry struct {
	id  string
	pkt []byte
}

// NewHistory makes an empty history.
func NewHistory(lim Limits) *History {
	if lim.Messages <= 0 {
		lim.Messages = 200
	}
	if lim.Bytes <= 0 {
		lim.Bytes = 256 << 10
	}
	return &History{lim: lim, byID: map[string]int{}}
}

// IsChat reports whether a data packet is chat: a ChatMessage, or a user packet on Topic.
// Packets for chosen recipients are private and never chat history.
func IsChat(pkt *livekit.DataPacket) bool {
	if len(pkt.DestinationIdentities) > 0 {
		return false
	}
	if pkt.GetChatMessage() != nil {
		return true
	}
	u := pkt.GetUser()
	return u != nil && u.GetTopic() == Topic && len(u.DestinationIdentities) == 0 && len(u.DestinationSids) == 0 //nolint:staticcheck
}

// Add keeps an encoded DataPacket as the room forwards it (sender stamped) if it is chat, and
// reports whether it did. An edited ChatMessage replaces the original; a deleted one removes it.
func (h *History) Add(encoded []byte) bool {
	if len(encoded) > h.lim.Bytes {
		return false
	}
	pkt := &livekit.DataPacket{}
	if proto.Unmarshal(encoded, pkt) != nil || !IsChat(pkt) {
		return false
	}
	id := ""
	if m := pkt.GetChatMessage(); m != nil {
		id = m.Id
	}
	cp := append([]byte(nil), encoded...)
	h.mu.Lock()
	defer h.mu.Unlock()
	if id != "" {
		if i, ok := h.byID[id]; ok && i-h.offset >= 0 {
			at := i - h.offset
			h.bytes -= len(h.msgs[at].pkt)
			if pkt.GetChatMessage().Deleted {
				h.msgs = append(h.msgs[:at], h.msgs[at+1:]...)
				h.reindex()
				return true
			}
			h.msgs[at].pkt = cp
			h.bytes += len(cp)
			h.trim()
			return true
		}
		if pkt.GetChatMessage().Deleted {
			return false
		}
	}
	h.msgs = append(h.msgs, entry{id: id, pkt: cp})
	h.bytes += len(cp)
	if id != "" {
		h.byID[id] = h.offset + len(h.msgs) - 1
	}
	h.trim()
	return true
}

// trim drops the oldest messages beyond the bounds.
func (h *History) trim() {
	drop := 0
	for len(h.msgs)-drop > h.lim.Messages || h.bytes > h.lim.Bytes {
		e := h.msgs[drop]
		h.bytes -= len(e.pkt)
		if e.id != "" {
			delete(h.byID, e.id)
		}
		drop++
	}
	if drop > 0 {
		h.msgs = append(h.msgs[:0:0], h.msgs[drop:]...)
		h.offset += drop
	}
}

// reindex recomputes the id positions after a removal from the middle.
func (h *History) reindex() {
	h.offset = 0
	clear(h.byID)
	for i, e := range h.msgs {
		if e.id != "" {
			h.byID[e.id] = i
		}
	}
}

// Replay calls send with each kept packet, oldest first, outside the lock (send may block on
// the newcomer's data channel).
func (h *History) Replay(send func(encoded []byte)) {
	for _, p := range h.Snapshot() {
		send(p)
	}
}

// Snapshot returns the kept packets, oldest first. They must not be modified.
func (h *History) Snapshot() [][]byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([][]byte, len(h.msgs))
	for i, e := range h.msgs {
		out[i] = e.pkt
	}
	return out
}

// Len is how many messages are kept.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}
