package recorder

import "time"

// speechLevel is the loudest -dBov level still counted as silence (LiveKit's threshold).
const speechLevel = 35

// speechHold is how long a speaker stays speaking after their last loud packet.
const speechHold = time.Second

// speech turns the audio levels of one track into speaking intervals.
type speech struct {
	on       bool
	lastLoud int64
}

func (s *speech) heard(at int64, level uint8, out *[]Interval) {
	if s.on && at-s.lastLoud > int64(speechHold) {
		s.end(out)
	}
	if level > speechLevel {
		return
	}
	if !s.on {
		*out = append(*out, Interval{Start: time.Unix(0, at).UTC()})
		s.on = true
	}
	s.lastLoud = at
}

func (s *speech) end(out *[]Interval) {
	if !s.on {
		return
	}
	end := time.Unix(0, s.lastLoud).UTC()
	(*out)[len(*out)-1].End = &end
	s.on = false
}
