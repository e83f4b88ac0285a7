package recorder

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A segment cut short by its node's death (no end, open stays and mutes) ends at its last frame;
// the next segment's tracks follow, and each participant's stays run across both.
func TestMergeSegments(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	ptr := func(t time.Time) *time.Time { return &t }
	killed := Manifest{ID: "EG_x", Room: "r", Start: t0,
		Participants: map[string]*ManifestParticipant{"an": {Identity: "an", Name: "Ân", Sessions: []Interval{{Start: at(0)}}}},
		Tracks: []*ManifestTrack{{SID: "TR_1", Participant: "an", Kind: "AUDIO", Muted: []Interval{{Start: at(5)}},
			TrackResult: TrackResult{File: "a1.ogg", Start: at(0.5), End: at(9.8)}}}}
	dir := t.TempDir()
	if err := writeJSONFile(filepath.Join(dir, "manifest.json"), killed); err != nil {
		t.Fatal(err)
	}
	read, err := ReadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	second := Manifest{ID: "EG_x", Room: "r", Start: at(13), End: ptr(at(30)),
		Participants: map[string]*ManifestParticipant{"an": {Identity: "an", Name: "Ân", SID: "PA_2", Sessions: []Interval{{Start: at(13), End: ptr(at(30))}}}},
		Tracks: []*ManifestTrack{{SID: "TR_2", Participant: "an", Kind: "AUDIO", Unpublished: ptr(at(30)),
			TrackResult: TrackResult{File: "a2.ogg", Start: at(13.2), End: at(29.9)}}}}
	m := MergeSegments([]Manifest{read, second})
	if !m.Start.Equal(t0) || m.End == nil || !m.End.Equal(at(30)) {
		t.Errorf("merged %v to %v, want %v to %v", m.Start, m.End, t0, at(30))
	}
	if len(m.Tracks) != 2 || m.Tracks[0].SID != "TR_1" || m.Tracks[1].SID != "TR_2" {
		t.Fatalf("merged tracks %v, want TR_1 then TR_2", m.Tracks)
	}
	first := m.Tracks[0]
	if first.Unpublished == nil || !first.Unpublished.Equal(at(9.8)) {
		t.Errorf("the killed segment's track unpublished at %v, want its last frame %v", first.Unpublished, at(9.8))
	}
	if first.Muted[0].End == nil || !first.Muted[0].End.Equal(at(9.8)) {
		t.Errorf("its open mute ends at %v, want %v", first.Muted[0].End, at(9.8))
	}
	an := m.Participants["an"]
	if an == nil || len(an.Sessions) != 2 || an.SID != "PA_2" {
		t.Fatalf("participant %+v, want two stays and the latest sid", an)
	}
	if e := an.Sessions[0].End; e == nil || !e.Equal(at(9.8)) {
		t.Errorf("the first stay ends at %v, want %v", e, at(9.8))
	}
	if read.Tracks[0].Unpublished != nil || read.End != nil {
		t.Error("merging changed the segment it was given")
	}
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
