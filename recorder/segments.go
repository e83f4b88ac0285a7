package recorder

import (
	"encoding/json"
	"os"
	"time"
)

// ReadManifest reads a manifest as a recording wrote it (a segment's, possibly cut short by its
// node's death: no end then).
func ReadManifest(path string) (Manifest, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- a recording's manifest under the recordings directory
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, err
	}
	if m.Participants == nil {
		m.Participants = map[string]*ManifestParticipant{}
	}
	return m, nil
}

// MergeSegments joins the segments of one recording, oldest first, into one manifest: every
// track of each, and each participant's stays across them. A segment its node never ended ends
// at the last media it wrote.
func MergeSegments(parts []Manifest) Manifest {
	out := Manifest{ID: parts[0].ID, Room: parts[0].Room, RoomSID: parts[0].RoomSID, Start: parts[0].Start,
		Participants: map[string]*ManifestParticipant{}}
	for _, part := range parts {
		part = part.clone()
		end := part.End
		if end == nil {
			last := part.lastWritten()
			end = &last
		}
		for _, t := range part.Tracks {
			if t.End.IsZero() {
				t.End = t.Start
			}
			if t.Unpublished == nil {
				u := t.End
				t.Unpublished = &u
			}
			if n := len(t.Muted); n > 0 && t.Muted[n-1].End == nil {
				t.Muted[n-1].End = end
			}
			out.Tracks = append(out.Tracks, t)
		}
		for id, p := range part.Participants {
			for i := range p.Sessions {
				if p.Sessions[i].End == nil {
					p.Sessions[i].End = end
				}
			}
			if q := out.Participants[id]; q != nil {
				q.Name, q.SID = p.Name, p.SID
				q.Sessions = append(q.Sessions, p.Sessions...)
				continue
			}
			out.Participants[id] = p
		}
		out.End = end
	}
	return out
}

// lastWritten is the latest moment a manifest knows of: its start, a stay's start or a track's
// last frame.
func (m *Manifest) lastWritten() time.Time {
	last := m.Start
	for _, t := range m.Tracks {
		if t.End.After(last) {
			last = t.End
		}
	}
	for _, p := range m.Participants {
		for _, s := range p.Sessions {
			if s.Start.After(last) {
				last = s.Start
			}
		}
	}
	return last
}
