package recorder

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/sfu"
)

// Room is the meeting a Recording follows, as a room on this node shows it.
type Room interface {
	Name() string
	SID() string
	Snapshot() []Participant
	Done() <-chan struct{}
}

// Participant is one participant in a Room's snapshot.
type Participant struct {
	Identity, Name, SID string
	Tracks              []Track
}

// Track is one published track in a snapshot; Media is nil while it has no SFU track.
type Track struct {
	Info  *livekit.TrackInfo
	Media *sfu.Track
}

// Params describes a recording.
type Params struct {
	ID  string
	Dir string // the recording's own directory
	// Want picks the tracks to record (nil: all).
	Want func(p *Participant, t *Track) bool
	// Poll is how often the room is looked at for tracks, participants and mutes.
	Poll   time.Duration
	Logger *slog.Logger
}

// Recording records the tracks of one room as they come and go, and keeps its manifest.
type Recording struct {
	p    Params
	room Room
	log  *slog.Logger

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	mu       sync.Mutex
	manifest Manifest
	writers  map[string]*trackEntry
	// encrypted holds the end-to-end encrypted tracks seen, listed in the manifest unrecorded.
	encrypted map[string]bool
}

type trackEntry struct {
	w   *TrackWriter
	src *sfu.Track
	m   *ManifestTrack
}

// Start begins recording room into p.Dir.
func Start(room Room, p Params) (*Recording, error) {
	if err := os.MkdirAll(p.Dir, 0o750); err != nil {
		return nil, err
	}
	if p.Poll == 0 {
		p.Poll = 250 * time.Millisecond
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	r := &Recording{
		p: p, room: room, log: p.Logger.With("recording", p.ID, "room", room.Name()),
		stop: make(chan struct{}), done: make(chan struct{}),
		writers:   map[string]*trackEntry{},
		encrypted: map[string]bool{},
		manifest: Manifest{ID: p.ID, Room: room.Name(), RoomSID: room.SID(), Start: time.Now().UTC(),
			Participants: map[string]*ManifestParticipant{}},
	}
	r.look()
	go r.run()
	return r, nil
}

// Stop ends the recording and waits until every file and the manifest are closed.
func (r *Recording) Stop() Manifest {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
	return r.Manifest()
}

// Done is closed when the recording has ended (stopped, or its room closed).
func (r *Recording) Done() <-chan struct{} { return r.done }

// Manifest is the recording as it stands.
func (r *Recording) Manifest() Manifest {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshLocked()
	return r.manifest.clone()
}

func (r *Recording) run() {
	defer close(r.done)
	t := time.NewTicker(r.p.Poll)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.look()
		case <-r.stop:
			r.end()
			return
		case <-r.room.Done():
			r.end()
			return
		}
	}
}

// look compares the room with what is recorded: new tracks get a writer, ended ones are closed,
// and joins, leaves and mutes go to the manifest.
func (r *Recording) look() {
	now := time.Now().UTC()
	snap := r.room.Snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	present := map[string]bool{}
	seen := map[string]bool{}
	for i := range snap {
		p := &snap[i]
		present[p.Identity] = true
		mp := r.manifest.Participants[p.Identity]
		if mp == nil {
			mp = &ManifestParticipant{Identity: p.Identity, Name: p.Name, SID: p.SID}
			r.manifest.Participants[p.Identity] = mp
			mp.Sessions = append(mp.Sessions, Interval{Start: now})
		} else if mp.Left != nil { // came back
			mp.Left = nil
			mp.Sessions = append(mp.Sessions, Interval{Start: now})
		}
		for j := range p.Tracks {
			t := &p.Tracks[j]
			if t.Media == nil || t.Info == nil {
				continue
			}
			seen[t.Info.Sid] = true
			e := r.writers[t.Info.Sid]
			if e == nil {
				if r.p.Want != nil && !r.p.Want(p, t) {
					continue
				}
				if t.Info.Encryption != livekit.Encryption_NONE {
					r.skipEncrypted(p, t)
					continue
				}
				e = r.startTrack(p, t)
				if e == nil {
					continue
				}
			}
			e.m.setMuted(t.Info.Muted, now)
		}
	}
	for id, mp := range r.manifest.Participants {
		if !present[id] && mp.Left == nil {
			mp.Left = &now
			mp.Sessions[len(mp.Sessions)-1].End = &now
		}
	}
	for sid, e := range r.writers {
		if !seen[sid] || isClosed(e.w.Done()) {
			r.endTrack(sid, e, now)
		}
	}
	r.writeManifestLocked()
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// ErrEncrypted is a track's error in the manifest when its media is end-to-end encrypted: the node
// holds no key, and a file of it would play as noise.
const ErrEncrypted = "end-to-end encrypted: the server cannot record it"

// skipEncrypted lists an end-to-end encrypted track in the manifest, unrecorded, once.
func (r *Recording) skipEncrypted(p *Participant, t *Track) {
	if r.encrypted[t.Info.Sid] {
		return
	}
	r.encrypted[t.Info.Sid] = true
	r.log.Info("end-to-end encrypted track not recorded", "track", t.Info.Sid, "participant", p.Identity)
	now := time.Now().UTC()
	r.manifest.Tracks = append(r.manifest.Tracks, &ManifestTrack{SID: t.Info.Sid, Participant: p.Identity, Name: t.Info.Name,
		Kind: t.Info.Type.String(), Source: t.Info.Source.String(), Published: now,
		TrackResult: TrackResult{Error: ErrEncrypted, Start: now, End: now}})
}

func (r *Recording) startTrack(p *Participant, t *Track) *trackEntry {
	base := fmt.Sprintf("%s-%s-%s", safe(p.Identity), t.Info.Source.String(), t.Info.Sid)
	w, err := NewTrackWriter(t.Media, TrackParams{Path: filepath.Join(r.p.Dir, safe(base)),
		Width: int(t.Info.Width), Height: int(t.Info.Height), Logger: r.log})
	if err != nil {
		r.log.Warn("track not recorded", "track", t.Info.Sid, "err", err)
		return nil
	}
	if !t.Media.AddSubscriber(w) {
		w.Stop()
		return nil
	}
	m := &ManifestTrack{SID: t.Info.Sid, Participant: p.Identity, Name: t.Info.Name, Kind: t.Info.Type.String(),
		Source: t.Info.Source.String(), Published: time.Now().UTC()}
	r.manifest.Tracks = append(r.manifest.Tracks, m)
	e := &trackEntry{w: w, src: t.Media, m: m}
	r.writers[t.Info.Sid] = e
	return e
}

func (r *Recording) endTrack(sid string, e *trackEntry, now time.Time) {
	e.src.RemoveSubscriber(e.w)
	res := e.w.Stop()
	e.m.apply(res)
	e.m.Unpublished = &now
	e.m.setMuted(false, now)
	delete(r.writers, sid)
}

func (r *Recording) end() {
	now := time.Now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	for sid, e := range r.writers {
		r.endTrack(sid, e, now)
	}
	for _, mp := range r.manifest.Participants {
		if mp.Left == nil {
			mp.Sessions[len(mp.Sessions)-1].End = &now
		}
	}
	r.manifest.End = &now
	r.writeManifestLocked()
}

// refreshLocked copies the writers' progress into the manifest.
func (r *Recording) refreshLocked() {
	for _, e := range r.writers {
		e.m.apply(e.w.Result())
	}
	r.manifest.alignSenders()
}

// ManifestPath is where the manifest is kept.
func (r *Recording) ManifestPath() string { return filepath.Join(r.p.Dir, "manifest.json") }

// writeManifestLocked replaces the manifest file whole, so that a reader never sees half of one.
func (r *Recording) writeManifestLocked() {
	r.refreshLocked()
	b, err := json.MarshalIndent(&r.manifest, "", "  ")
	if err != nil {
		return
	}
	tmp := r.ManifestPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		r.log.Warn("manifest not written", "err", err)
		return
	}
	_ = os.Rename(tmp, r.ManifestPath())
}

// safe keeps a file name to letters (any script), digits and a few marks.
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
