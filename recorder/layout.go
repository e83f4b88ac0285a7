package recorder

import (
	"sort"
	"strings"
	"time"
)

// segment is a span of the composite with one video on the stage (-1: none), or the name of a
// speaker without a camera.
type segment struct {
	from, to float64 // seconds from the composite's start
	stage    int
	speaker  string
}

// stageSegments decides who is on the stage when: a screen share while one runs, else whoever
// spoke last (their camera while it runs, else their name), else the first camera running.
func stageSegments(videos, audios []*ManifestTrack, t0 time.Time, dur float64) []segment {
	sec := func(t time.Time) float64 { return t.Sub(t0).Seconds() }
	end := func(t *ManifestTrack) float64 { return sec(t.End) }
	cuts := []float64{0, dur}
	for _, v := range videos {
		cuts = append(cuts, sec(v.Start), end(v))
	}
	type talk struct {
		who      string
		from, to float64
	}
	var talks []talk
	for _, a := range audios {
		for _, s := range a.Speaking {
			to := end(a)
			if s.End != nil {
				to = sec(*s.End)
			}
			talks = append(talks, talk{a.Participant, sec(s.Start), to})
			cuts = append(cuts, sec(s.Start), to)
		}
	}
	sort.Float64s(cuts)
	running := func(v *ManifestTrack, t float64) bool { return sec(v.Start) <= t && t < end(v) }
	var out []segment
	for i := 0; i+1 < len(cuts); i++ {
		a, b := cuts[i], cuts[i+1]
		if b <= a || a >= dur || b <= 0 {
			continue
		}
		mid := (a + b) / 2
		stage := -1
		for j, v := range videos {
			if strings.HasPrefix(v.Source, "SCREEN_SHARE") && running(v, mid) {
				stage = j
				break
			}
		}
		speaker := ""
		if stage < 0 {
			// The latest speaker: their camera if it runs now, else their name.
			latest := -1.0
			for _, tk := range talks {
				if tk.from <= mid && tk.from >= latest {
					speaker, latest = tk.who, tk.from
				}
			}
			for j, v := range videos {
				if speaker != "" && v.Participant == speaker && !strings.HasPrefix(v.Source, "SCREEN_SHARE") && running(v, mid) {
					stage, speaker = j, ""
					break
				}
			}
		}
		if stage < 0 && speaker == "" {
			for j, v := range videos {
				if running(v, mid) {
					stage = j
					break
				}
			}
		}
		if n := len(out); n > 0 && out[n-1].stage == stage && out[n-1].speaker == speaker && out[n-1].to == a {
			out[n-1].to = b
			continue
		}
		out = append(out, segment{from: max(a, 0), to: min(b, dur), stage: stage, speaker: speaker})
	}
	return out
}
