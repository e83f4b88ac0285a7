package room

import (
	"strings"
	"time"

	"github.com/livekit/protocol/livekit"
)

// Dynacast tells publishers which simulcast layers anybody wants, so their encoders stop producing
// (and their uplinks stop carrying) the rest. Higher layers are enabled as soon as someone wants
// them; they are disabled only after nobody has wanted them for dynacastDowngrade, so a tile that
// flickers between sizes does not make the publisher restart its encoder.
const dynacastDowngrade = 2 * time.Second

type dynacastState struct {
	sent      livekit.VideoQuality // highest quality enabled (clients publish every layer at first)
	lowerFrom time.Time            // when demand first fell below sent
}

// demandChanged wakes the publisher's upkeep loop for a dynacast pass; it never blocks.
func (p *Participant) demandChanged() {
	select {
	case p.dynacastKick <- struct{}{}:
	default:
	}
}

// dynacast compares what subscribers want of each published video track with what the publisher
// was last told to send (state, by track SID) and tells it about changes: more at once, less after
// dynacastDowngrade.
func (p *Participant) dynacast(state map[string]*dynacastState, now time.Time) {
	live := map[string]bool{}
	for _, t := range p.publishedTracks() {
		info := t.info.Load()
		live[info.Sid] = true
		if info.Type != livekit.TrackType_VIDEO {
			continue
		}
		st := state[info.Sid]
		if st == nil {
			st = &dynacastState{sent: livekit.VideoQuality_HIGH}
			state[info.Sid] = st
		}
		want := maxQuality(info, t.media.MaxDesiredLayer())
		switch {
		case want > st.sent:
			p.sendSubscribedQuality(info, want)
			st.sent, st.lowerFrom = want, time.Time{}
		case want < st.sent:
			if st.lowerFrom.IsZero() {
				st.lowerFrom = now
			} else if now.Sub(st.lowerFrom) >= dynacastDowngrade {
				p.sendSubscribedQuality(info, want)
				st.sent, st.lowerFrom = want, time.Time{}
			}
		default:
			st.lowerFrom = time.Time{}
		}
	}
	for sid := range state {
		if !live[sid] {
			delete(state, sid)
		}
	}
}

// maxQuality maps the highest layer subscribers want to the highest quality to keep (-1: none).
func maxQuality(info *livekit.TrackInfo, layer int8) livekit.VideoQuality {
	if layer == layerOff {
		return -1
	}
	if !info.Simulcast {
		return livekit.VideoQuality_HIGH // one layer: on whenever anybody watches
	}
	return livekit.VideoQuality(layer)
}

// sendSubscribedQuality enables the qualities up to max (lower layers stay on: subscribers with
// little bandwidth fall back to them).
func (p *Participant) sendSubscribedQuality(info *livekit.TrackInfo, max livekit.VideoQuality) {
	qs := make([]*livekit.SubscribedQuality, 0, 3)
	for q := livekit.VideoQuality_LOW; q <= livekit.VideoQuality_HIGH; q++ {
		qs = append(qs, &livekit.SubscribedQuality{Quality: q, Enabled: q <= max})
	}
	codec := strings.TrimPrefix(strings.ToLower(info.MimeType), "video/")
	p.write(&livekit.SignalResponse{Message: &livekit.SignalResponse_SubscribedQualityUpdate{SubscribedQualityUpdate: &livekit.SubscribedQualityUpdate{
		TrackSid:            info.Sid,
		SubscribedQualities: qs, //nolint:staticcheck // older clients read this list
		SubscribedCodecs:    []*livekit.SubscribedCodec{{Codec: codec, Qualities: qs}},
	}}})
}
