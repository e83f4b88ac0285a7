package recorder

import "time"

// Manifest describes a recording: who was there when, and every track's file and timeline.
type Manifest struct {
	ID           string                          `json:"id"`
	Room         string                          `json:"room"`
	RoomSID      string                          `json:"room_sid"`
	Start        time.Time                       `json:"start"`
	End          *time.Time                      `json:"end,omitempty"`
	Participants map[string]*ManifestParticipant `json:"participants"`
	Tracks       []*ManifestTrack                `json:"tracks"`
	Composite    string                          `json:"composite,omitempty"`
}

// Interval is a span of time; End is nil while it lasts.
type Interval struct {
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end,omitempty"`
}

// ManifestParticipant is one participant; Sessions are its stays in the room.
type ManifestParticipant struct {
	Identity string     `json:"identity"`
	Name     string     `json:"name"`
	SID      string     `json:"sid"`
	Sessions []Interval `json:"sessions"`
	Left     *time.Time `json:"-"`
}

// ManifestTrack is one recorded track.
type ManifestTrack struct {
	SID         string     `json:"sid"`
	Participant string     `json:"participant"`
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	Source      string     `json:"source"`
	Published   time.Time  `json:"published"`
	Unpublished *time.Time `json:"unpublished,omitempty"`
	Muted       []Interval `json:"muted,omitempty"`
	TrackResult
}

func (m *ManifestTrack) apply(r TrackResult) { m.TrackResult = r }

// setMuted opens or closes a mute interval.
func (m *ManifestTrack) setMuted(muted bool, now time.Time) {
	n := len(m.Muted)
	open := n > 0 && m.Muted[n-1].End == nil
	switch {
	case muted && !open:
		m.Muted = append(m.Muted, Interval{Start: now})
	case !muted && open:
		m.Muted[n-1].End = &now
	}
}

func (m Manifest) clone() Manifest {
	c := m
	c.Participants = make(map[string]*ManifestParticipant, len(m.Participants))
	for k, p := range m.Participants {
		q := *p
		q.Sessions = append([]Interval(nil), p.Sessions...)
		c.Participants[k] = &q
	}
	c.Tracks = make([]*ManifestTrack, len(m.Tracks))
	for i, t := range m.Tracks {
		u := *t
		u.Muted = append([]Interval(nil), t.Muted...)
		c.Tracks[i] = &u
	}
	return c
}

// alignSenders places each track with a sender report on its publisher's clock, moved onto the
// node's: one publisher's clock is the same for all its tracks, so their relative timing is then
// exact whatever each media pipeline's delay; its offset from the node's clock is unknown, and is
// taken from the track that arrived least delayed (the smallest arrival minus sender time), so
// that no file starts later than its first frame arrived. Tracks without a report keep their
// arrival. Each of a participant's stays counts as its own publisher: a rejoin may be another
// device, with another clock. It recomputes from ArrivalStart and SenderStart, so it may run again.
func (m *Manifest) alignSenders() {
	type who struct {
		identity string
		stay     int
	}
	offset := map[who]time.Duration{}
	for _, t := range m.Tracks {
		if t.SenderStart == nil {
			continue
		}
		k := who{t.Participant, m.stay(t)}
		if d, ok := offset[k]; !ok || t.ArrivalStart.Sub(*t.SenderStart) < d {
			offset[k] = t.ArrivalStart.Sub(*t.SenderStart)
		}
	}
	for _, t := range m.Tracks {
		switch {
		case t.SenderStart != nil:
			t.Start = t.SenderStart.Add(offset[who{t.Participant, m.stay(t)}])
			t.StartFrom = StartSenderReport
		case !t.ArrivalStart.IsZero():
			t.Start, t.StartFrom = t.ArrivalStart, StartArrival
		}
	}
}

// stay is the index of the participant's stay in the room in which t was published.
func (m *Manifest) stay(t *ManifestTrack) int {
	i := 0
	if p := m.Participants[t.Participant]; p != nil {
		for j, s := range p.Sessions {
			if !s.Start.After(t.Published) {
				i = j
			}
		}
	}
	return i
}
