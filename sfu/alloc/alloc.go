// Package alloc divides one subscriber's estimated bandwidth among the video tracks it receives:
// each gets at least its smallest layer in priority order (screen share, then pinned or speaking,
// then the rest), a track that does not fit is paused, and what is left raises tracks step by step
// (a temporal layer, then a spatial one) up to what the subscriber asked for. It is pure
// computation; the caller measures rates and applies the decisions.
package alloc

import "sort"

// Off marks a track that receives no video.
const Off = -1

// Layers is the number of spatial and temporal layers considered.
const (
	Spatial  = 3
	Temporal = 4
)

// Track is one video track as the allocator sees it.
type Track struct {
	// Priority orders tracks: higher is served first.
	Priority int
	// Current is the spatial layer the track is allocated now (Off: none). Among tracks of one
	// priority the higher current layer climbs first, so a budget that fits only one track's top
	// layer keeps it on the same track: a switch costs the viewer a keyframe's wait on both
	// tracks, and alternating them each round froze both.
	Current int8
	// MaxSpatial and MaxTemporal are the most the subscriber wants (MaxSpatial Off: nothing).
	MaxSpatial, MaxTemporal int8
	// Rates[s][t] is the bitrate of spatial layer s with temporal layers up to t; 0 means that
	// layer (or temporal layer) is not being received from the publisher.
	Rates [Spatial][Temporal]uint64
}

// Decision is the layer chosen for a track.
type Decision struct {
	Spatial, Temporal int8
	// Paused is set when the subscriber wants the track but not even its smallest layer fits.
	Paused bool
	// Rate is the bitrate the decision costs.
	Rate uint64
}

type step struct {
	s, t int8
	rate uint64
}

// steps lists a track's layers in the order they are climbed: the smallest spatial layer at each of
// its frame rates (fine steps for thin links), then each larger layer at no less than half its full
// frame rate (people prefer fluid motion at a smaller size over a large picture at a few frames a
// second). Each step costs more than the previous; a layer measured cheaper is priced just above it.
func steps(tr *Track) []step {
	var out []step
	if tr.MaxSpatial == Off {
		return nil
	}
	lowest := true
	for s := int8(0); s <= tr.MaxSpatial && s < Spatial; s++ {
		top := int8(-1)
		for t := int8(0); t <= tr.MaxTemporal && t < Temporal; t++ {
			if tr.Rates[s][t] > 0 {
				top = t
			}
		}
		if top < 0 {
			continue
		}
		for t := int8(0); t <= top; t++ {
			r := tr.Rates[s][t]
			if r == 0 || (!lowest && t < top-1) {
				continue
			}
			if len(out) > 0 && r <= out[len(out)-1].rate {
				r = out[len(out)-1].rate + 1
			}
			out = append(out, step{s, t, r})
		}
		lowest = false
	}
	return out
}

// Smallest is the cheapest layer of a track the subscriber wants (ok false: none is received).
func Smallest(tr *Track) (spatial, temporal int8, ok bool) {
	st := steps(tr)
	if len(st) == 0 {
		return Off, Off, false
	}
	return st[0].s, st[0].t, true
}

// Allocate chooses layers for tracks within budget (bits/s). Ties between tracks of equal priority
// and current layer go to the earlier in input order, which the caller keeps stable. It returns the decisions (in input
// order), the total rate used, and the deficit: how much more would give every track what it asked for.
func Allocate(budget uint64, tracks []Track) (out []Decision, used, deficit uint64) {
	out = make([]Decision, len(tracks))
	ladders := make([][]step, len(tracks))
	level := make([]int, len(tracks)) // index into ladders; -1: nothing allocated
	order := make([]int, 0, len(tracks))
	for i := range tracks {
		out[i] = Decision{Spatial: Off, Temporal: Off}
		ladders[i] = steps(&tracks[i])
		level[i] = -1
		if len(ladders[i]) > 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool {
		ta, tb := &tracks[order[a]], &tracks[order[b]]
		if ta.Priority != tb.Priority {
			return ta.Priority > tb.Priority
		}
		return ta.Current > tb.Current
	})

	// Everyone's smallest layer first, by priority.
	remaining := budget
	for _, i := range order {
		if r := ladders[i][0].rate; r <= remaining {
			level[i] = 0
			remaining -= r
		} else {
			out[i].Paused = true
		}
	}
	// Then climb, one step per track per round, higher priorities first within each round; a
	// higher priority class climbs to the top before a lower one starts.
	for p := 0; p < len(order); {
		prio := tracks[order[p]].Priority
		q := p
		for q < len(order) && tracks[order[q]].Priority == prio {
			q++
		}
		for moved := true; moved; {
			moved = false
			for _, i := range order[p:q] {
				l := level[i]
				if l < 0 || l+1 >= len(ladders[i]) {
					continue
				}
				extra := ladders[i][l+1].rate - ladders[i][l].rate
				if extra <= remaining {
					level[i] = l + 1
					remaining -= extra
					moved = true
				}
			}
		}
		p = q
	}
	for i := range tracks {
		if level[i] >= 0 {
			st := ladders[i][level[i]]
			out[i].Spatial, out[i].Temporal, out[i].Rate = st.s, st.t, st.rate
			used += st.rate
		}
		if lad := ladders[i]; len(lad) > 0 {
			want := lad[len(lad)-1].rate
			if level[i] < len(lad)-1 {
				have := uint64(0)
				if level[i] >= 0 {
					have = lad[level[i]].rate
				}
				deficit += want - have
			}
		}
	}
	return out, used, deficit
}
