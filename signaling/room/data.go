package room

import (
	"strings"
	"sync"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/chat"
)

// Data channel labels LiveKit clients use.
const (
	reliableLabel = "_reliable"
	lossyLabel    = "_lossy"
)

// dataChannels holds the channels the server writes to a participant on, and the reliable sequence
// numbers seen from it.
type dataChannels struct {
	mu       sync.Mutex
	reliable DataChannel
	lossy    DataChannel
	lastSeq  uint32
	all      []DataChannel
}

func (d *dataChannels) setDown(rel, lossy DataChannel) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rel != nil {
		d.reliable = rel
		d.all = append(d.all, rel)
	}
	if lossy != nil {
		d.lossy = lossy
		d.all = append(d.all, lossy)
	}
}

func (d *dataChannels) track(dc DataChannel) {
	d.mu.Lock()
	d.all = append(d.all, dc)
	d.mu.Unlock()
}

func (d *dataChannels) channel(kind livekit.DataPacket_Kind) DataChannel {
	d.mu.Lock()
	defer d.mu.Unlock()
	if kind == livekit.DataPacket_LOSSY && d.lossy != nil {
		return d.lossy
	}
	return d.reliable
}

// accept reports whether a reliable packet with this sequence number is new.
func (d *dataChannels) accept(seq uint32) bool {
	if seq == 0 {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq <= d.lastSeq {
		return false
	}
	d.lastSeq = seq
	return true
}

func (d *dataChannels) lastSequence() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastSeq
}

func (d *dataChannels) close() {
	d.mu.Lock()
	all := d.all
	d.all = nil
	d.mu.Unlock()
	for _, dc := range all {
		_ = dc.Close()
	}
}

// onDataChannel adopts a channel the client opened: it carries the client's data, and in
// single-connection mode (or without a subscriber connection) also the server's data to it.
func (p *Participant) onDataChannel(dc DataChannel) {
	label := dc.Label()
	if label != reliableLabel && label != lossyLabel {
		p.data.track(dc) // e.g. _data_track: not used by Hop yet
		dc.Read(nil, nil)
		return
	}
	down := p.conns.subscriber() == nil || !p.canSubscribe()
	p.attachDataReader(dc, down)
	if down {
		if label == reliableLabel {
			p.data.setDown(dc, nil)
		} else {
			p.data.setDown(nil, dc)
		}
	} else {
		p.data.track(dc)
	}
}

// attachDataReader reads the client's packets from dc; down says the server also writes to the
// client on it, so the room's chat so far is replayed once a reliable one opens.
func (p *Participant) attachDataReader(dc DataChannel, down bool) {
	kind := livekit.DataPacket_RELIABLE
	if dc.Label() == lossyLabel {
		kind = livekit.DataPacket_LOSSY
	}
	var onOpen func()
	if down && kind == livekit.DataPacket_RELIABLE {
		onOpen = func() { p.room.welcome(p) }
	}
	dc.Read(onOpen, func(b []byte) { p.handleData(kind, b) })
}

// handleData validates, stamps and forwards one DataPacket from this participant.
func (p *Participant) handleData(kind livekit.DataPacket_Kind, b []byte) {
	if lim := p.env.limits.MaxDataPacket; lim > 0 && len(b) > lim {
		p.log.Info("data packet too large; dropped", "size", len(b), "limit", lim)
		return
	}
	pkt := &livekit.DataPacket{}
	if err := proto.Unmarshal(b, pkt); err != nil {
		p.log.Info("malformed data packet; dropped", "err", err)
		return
	}
	p.mu.Lock()
	allowed := p.permission.CanPublishData
	hidden := p.permission.Hidden
	p.mu.Unlock()
	if !allowed {
		return
	}
	if u := pkt.GetUser(); u != nil && strings.HasPrefix(u.GetTopic(), attrOwned) {
		return // the node's own topics: a participant may not speak for it
	}
	if chat.IsChat(pkt) && !p.room.chatAllowed(p) {
		p.room.notify(p, "chat-disabled", "")
		return
	}
	if kind == livekit.DataPacket_RELIABLE && !p.data.accept(pkt.Sequence) {
		return
	}
	pkt.Kind = kind //nolint:staticcheck // kept for older clients
	pkt.ParticipantSid = p.sid
	pkt.ParticipantIdentity = p.identity
	if hidden {
		pkt.ParticipantIdentity = ""
	}
	dest := pkt.DestinationIdentities
	var destSIDs []string
	if u := pkt.GetUser(); u != nil {
		u.ParticipantSid = p.sid                        //nolint:staticcheck
		u.ParticipantIdentity = pkt.ParticipantIdentity //nolint:staticcheck
		if len(dest) == 0 {
			dest = u.DestinationIdentities //nolint:staticcheck
		} else {
			u.DestinationIdentities = dest //nolint:staticcheck
		}
		destSIDs = u.DestinationSids //nolint:staticcheck
		pkt.DestinationIdentities = dest
	}
	out, err := proto.Marshal(pkt)
	if err != nil {
		return
	}
	p.room.forwardData(p, kind, out, dest, destSIDs)
}

// forwardData sends an encoded DataPacket to every other active participant, or to the destinations.
func (r *Room) forwardData(from *Participant, kind livekit.DataPacket_Kind, b []byte, identities, sids []string) {
	var want map[string]bool
	if len(identities) > 0 || len(sids) > 0 {
		want = map[string]bool{}
		for _, id := range identities {
			want[id] = true
		}
		for _, s := range sids {
			want[s] = true
		}
	}
	if from != nil && want == nil && kind == livekit.DataPacket_RELIABLE {
		r.chat.Add(b)
	}
	for _, q := range r.others(from) {
		if want != nil && !want[q.identity] && !want[q.sid] {
			continue
		}
		q.sendData(kind, b)
	}
}

// replayChat gives a newcomer the room's recent chat, as it would have received it live.
func (r *Room) replayChat(p *Participant) {
	r.chat.Replay(func(b []byte) { p.sendData(livekit.DataPacket_RELIABLE, b) })
}

// sendData writes an encoded DataPacket to this participant.
func (p *Participant) sendData(kind livekit.DataPacket_Kind, b []byte) {
	dc := p.data.channel(kind)
	if dc == nil || !dc.Open() {
		return
	}
	if err := dc.Send(b); err != nil {
		p.log.Debug("data send failed", "err", err)
	}
}
