package room

import (
	"math"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/tick"
)

// The room's monitor reports who is speaking (from the publishers' RFC 6464 audio levels) and how
// good each participant's connection is (from loss in both directions).
const (
	speakerTick = 100 * time.Millisecond
	// A participant counts as speaking above speakingDBov (mean level over a tick, smoothed).
	speakingDBov = -50.0
	// speakerHold keeps a speaker active through short pauses between words.
	speakerHold  = 800 * time.Millisecond
	qualityEvery = 2 * time.Second
)

type speakerState struct {
	level      float64 // smoothed linear amplitude, 0..1
	active     bool
	lastLoud   time.Time
	sentLevel  float32
	sentActive bool
}

type lossCounter struct{ packets, lost uint64 }

func (r *Room) monitor() {
	defer r.wg.Done()
	tick := tick.New(speakerTick)
	defer tick.Stop()
	speakers := map[string]*speakerState{}
	quality := map[string]livekit.ConnectionQuality{}
	recvLoss := map[MediaTrack]lossCounter{}
	lastQuality := time.Now()
	for {
		select {
		case <-r.done:
			return
		case now := <-tick.C:
			tick.Next()
			r.updateSpeakers(now, speakers)
			if now.Sub(lastQuality) >= qualityEvery {
				lastQuality = now
				r.updateQuality(quality, recvLoss)
			}
		}
	}
}

// updateSpeakers measures each participant's audio level and tells everyone about changes.
func (r *Room) updateSpeakers(now time.Time, states map[string]*speakerState) {
	var changed []*livekit.SpeakerInfo
	present := map[string]bool{}
	for _, p := range r.Participants() {
		present[p.sid] = true
		st := states[p.sid]
		if st == nil {
			st = &speakerState{}
			states[p.sid] = st
		}
		loudest, heard := -127.0, false
		for _, t := range p.publishedTracks() {
			if t.media.Kind() != webrtc.RTPCodecTypeAudio {
				continue
			}
			if d, ok := t.media.AudioLevel(); ok {
				heard = true
				loudest = math.Max(loudest, d)
			}
		}
		amp := 0.0
		if heard {
			amp = math.Pow(10, loudest/20)
		}
		// Rise at once, fall smoothly.
		if amp > st.level {
			st.level = amp
		} else {
			st.level = 0.6*st.level + 0.4*amp
		}
		if heard && loudest > speakingDBov {
			st.lastLoud = now
		}
		active := !st.lastLoud.IsZero() && now.Sub(st.lastLoud) < speakerHold
		lvl := float32(math.Round(st.level*100) / 100)
		if !active {
			lvl = 0
		}
		if active != st.sentActive || (active && math.Abs(float64(lvl-st.sentLevel)) >= 0.05) {
			st.sentActive, st.sentLevel = active, lvl
			if !p.hidden() {
				changed = append(changed, &livekit.SpeakerInfo{Sid: p.sid, Level: lvl, Active: active})
			}
			if active != st.active {
				st.active = active
				p.setSpeaking(active)
			}
		}
	}
	for sid := range states {
		if !present[sid] {
			delete(states, sid)
		}
	}
	if len(changed) == 0 {
		return
	}
	msg := &livekit.SignalResponse{Message: &livekit.SignalResponse_SpeakersChanged{SpeakersChanged: &livekit.SpeakersChanged{Speakers: changed}}}
	for _, p := range r.Participants() {
		p.write(msg)
	}
}

// setSpeaking raises (or lowers) the allocation priority of the participant's video for everyone.
func (p *Participant) setSpeaking(speaking bool) {
	for _, t := range p.publishedTracks() {
		if t.media.Kind() == webrtc.RTPCodecTypeVideo {
			t.media.SetPriority(trackPriority(t.info.Load(), speaking))
		}
	}
}

// updateQuality rates every participant's connection and tells everyone when a rating changes.
func (r *Room) updateQuality(prev map[string]livekit.ConnectionQuality, recv map[MediaTrack]lossCounter) {
	var infos []*livekit.ConnectionQualityInfo
	changed := false
	present := map[string]bool{}
	seen := map[MediaTrack]bool{}
	for _, p := range r.Participants() {
		present[p.sid] = true
		// Upstream: loss on what the participant publishes since the last rating.
		var packets, lost uint64
		for _, t := range p.publishedTracks() {
			seen[t.media] = true
			pk, ls := t.media.ReceiveStats()
			last := recv[t.media]
			if pk >= last.packets {
				packets += pk - last.packets
			}
			if ls >= last.lost {
				lost += ls - last.lost
			}
			recv[t.media] = lossCounter{packets: pk, lost: ls}
		}
		up := 0.0
		if packets+lost > 0 {
			up = float64(lost) / float64(packets+lost)
		}
		down := p.downstreamLoss()
		loss := math.Max(up, down)
		q, score := rate(loss)
		infos = append(infos, &livekit.ConnectionQualityInfo{ParticipantSid: p.sid, Quality: q, Score: score})
		if prev[p.sid] != q {
			changed = true
			prev[p.sid] = q
		}
	}
	for rc := range recv {
		if !seen[rc] {
			delete(recv, rc)
		}
	}
	for sid := range prev {
		if !present[sid] {
			delete(prev, sid)
		}
	}
	if !changed || len(infos) == 0 {
		return
	}
	msg := &livekit.SignalResponse{Message: &livekit.SignalResponse_ConnectionQuality{ConnectionQuality: &livekit.ConnectionQualityUpdate{Updates: infos}}}
	for _, p := range r.Participants() {
		p.write(msg)
	}
}

// rate maps packet loss to LiveKit's quality levels and a 1–5 mean-opinion-like score. LOST is never
// reported from loss alone: clients treat their own LOST as a dead connection and rejoin.
func rate(loss float64) (livekit.ConnectionQuality, float32) {
	score := float32(math.Max(1, 5-loss*40)) // 5 at no loss, 1 from 10 % loss
	switch {
	case loss < 0.02:
		return livekit.ConnectionQuality_EXCELLENT, score
	case loss < 0.06:
		return livekit.ConnectionQuality_GOOD, score
	}
	return livekit.ConnectionQuality_POOR, score
}
