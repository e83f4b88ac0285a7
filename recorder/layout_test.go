package recorder

import (
	"reflect"
	"testing"
	"time"
)

// The stage shows a screen share while it runs, else whoever spoke last (the camera, or the name
// of someone without one), else the first camera running.
func TestStageFollowsScreenShareAndSpeaker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ptr := func(t time.Time) *time.Time { return &t }
	video := func(who, source string, from, to float64) *ManifestTrack {
		return &ManifestTrack{Participant: who, Source: source, TrackResult: TrackResult{Start: at(from), End: at(to)}}
	}
	videos := []*ManifestTrack{
		video("an", "CAMERA", 0, 60),
		video("binh", "CAMERA", 0, 60),
		video("binh", "SCREEN_SHARE", 20, 30),
	}
	audios := []*ManifestTrack{
		{Participant: "an", TrackResult: TrackResult{Start: at(0), End: at(60),
			Speaking: []Interval{{Start: at(15), End: ptr(at(18))}}}},
		{Participant: "binh", TrackResult: TrackResult{Start: at(0), End: at(60),
			Speaking: []Interval{{Start: at(5), End: ptr(at(12))}, {Start: at(40), End: ptr(at(45))}}}},
		// chi has no camera.
		{Participant: "chi", TrackResult: TrackResult{Start: at(0), End: at(60),
			Speaking: []Interval{{Start: at(50), End: ptr(at(52))}}}},
	}
	got := stageSegments(videos, audios, t0, 60)
	want := []segment{
		{0, 5, 0, ""},       // nobody spoke yet: the first camera
		{5, 15, 1, ""},      // binh spoke
		{15, 20, 0, ""},     // an spoke
		{20, 30, 2, ""},     // binh's screen share
		{30, 40, 0, ""},     // an spoke last
		{40, 50, 1, ""},     // binh again
		{50, 60, -1, "chi"}, // chi, without a camera: the name
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stage %v\nwant  %v", got, want)
	}
}
