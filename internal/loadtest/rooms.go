package loadtest

import (
	"fmt"
	"time"
)

// Several rooms at once, over several nodes: what a cluster's placement and signal relay are
// measured with.

// RoomReport sums one room's subscribers.
type RoomReport struct {
	Room        string
	Subscribers int // that connected
	// SubscribedTracks counts the tracks its subscribers received, of ExpectedTracks.
	SubscribedTracks int
	ExpectedTracks   int
	Kbps             float64
	LossPct          float64
	ConnectFailures  int
}

// roomNames are the rooms of the run: Room alone, or Room-1…Room-N.
func (o *Options) roomNames() []string {
	if o.Rooms <= 1 {
		return []string{o.Room}
	}
	names := make([]string, o.Rooms)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", o.Room, i+1)
	}
	return names
}

// urlTurns returns the URL each next client connects to: URLs in turn, else URL.
func (o *Options) urlTurns() func() string {
	urls := o.URLs
	if len(urls) == 0 {
		urls = []string{o.URL}
	}
	next := 0
	return func() string {
		u := urls[next%len(urls)]
		next++
		return u
	}
}

// roomReports groups the subscribers' figures by room; perSubscriber is the tracks each should get.
func roomReports(names []string, subs []*subscriber, d time.Duration, perSubscriber int) []RoomReport {
	byRoom := map[string]*RoomReport{}
	lost := map[string][2]int{} // expected, lost packets
	out := make([]RoomReport, len(names))
	for i, n := range names {
		out[i].Room = n
		byRoom[n] = &out[i]
	}
	for _, s := range subs {
		r := byRoom[s.room]
		r.ExpectedTracks += perSubscriber
		if s.failed {
			r.ConnectFailures++
			continue
		}
		sr := s.report(d)
		r.Subscribers++
		r.SubscribedTracks += len(sr.Tracks)
		r.Kbps += sr.Kbps
		l := lost[s.room]
		for _, t := range sr.Tracks {
			l[0] += t.Packets + t.Lost
			l[1] += t.Lost
		}
		lost[s.room] = l
	}
	for i := range out {
		if l := lost[out[i].Room]; l[0] > 0 {
			out[i].LossPct = 100 * float64(l[1]) / float64(l[0])
		}
	}
	return out
}
