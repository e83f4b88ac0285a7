// Package egress serves the recording part of LiveKit's Egress API (Twirp at /twirp/livekit.Egress/):
// StartRoomCompositeEgress, StartParticipantEgress, StartTrackEgress, ListEgress and StopEgress, so
// LiveKit's server SDKs record Hop rooms. Recordings are made on this node by the recorder package,
// as subscribers of the room; each call needs a token with the roomRecord grant.
package egress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/utils/guid"
	"github.com/twitchtv/twirp"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/recorder"
	"github.com/hop-meet/hop/signaling/auth"
)

// Prefix is where the handler must be mounted.
const Prefix = livekit.EgressPathPrefix

// DefaultMaxBody bounds a request's body when the handler is given no bound.
const DefaultMaxBody = 1 << 20

// Config configures the service.
type Config struct {
	// Dir holds the recordings, one directory each.
	Dir string
	// CompositeThreads bounds ffmpeg's threads for a composite.
	CompositeThreads int
	// Store, if set, receives each finished recording's files; ListEgress then names them by
	// signed links good for LinkTTL.
	Store   *recorder.S3
	LinkTTL time.Duration
	// Retention, if set, is how long recordings are kept after they end: older ones are deleted
	// here and from Store, and no longer listed.
	Retention time.Duration
	// Ledger, if set (a cluster), keeps the recordings in progress where the node that next
	// hosts their room finds them: a room whose node died is recorded on there as a new segment.
	// Dir must then be storage every node shares.
	Ledger Ledger
	// AbandonedAfter, with a Ledger, is how long a recording's room may stay on no node (its
	// node died or drained and nobody rejoined) before a node finishes the recording as it is.
	AbandonedAfter time.Duration
	// Peers, if set (a cluster), answers the calls about rooms and egresses of other nodes.
	Peers Peers
	// Events, if set, hears recordings start and end (webhooks).
	Events Events
	Logger *slog.Logger
}

// Service implements livekit.Egress's recording calls over a node's rooms.
type Service struct {
	cfg   Config
	rooms Rooms
	log   *slog.Logger

	mu   sync.Mutex
	jobs map[string]*job
	// recording counts the active egresses per room, which show as the room's active_recording.
	recording map[Room]int
	// meetings holds each room's own recording (see recordMeeting).
	meetings map[Room]*job
	meetMu   sync.Mutex
	wg       sync.WaitGroup
	// ctx ends the composites still running when the node closes.
	ctx    context.Context
	cancel context.CancelFunc
}

// New makes the service.
func New(cfg Config, rooms Rooms) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, rooms: rooms, log: cfg.Logger, jobs: map[string]*job{}, recording: map[Room]int{}, meetings: map[Room]*job{}, ctx: ctx, cancel: cancel}
	if cfg.Retention > 0 {
		s.wg.Add(1)
		go s.retain()
	}
	s.loadRecorded()
	if cfg.Ledger != nil && cfg.AbandonedAfter > 0 {
		s.wg.Add(1)
		go s.adopt()
	}
	if cfg.Store != nil {
		// Listed now, before this run records anything: what is there is a previous run's.
		entries, err := os.ReadDir(cfg.Dir)
		if err != nil && !os.IsNotExist(err) {
			s.log.Warn("pending uploads: cannot list the recordings", "dir", cfg.Dir, "err", err)
		}
		s.wg.Add(1)
		go s.uploadPending(entries)
	}
	return s
}

// Close stops every recording, ends the composites still running (those egresses fail) and
// waits for them.
func (s *Service) Close() {
	s.cancel()
	s.mu.Lock()
	jobs := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	for _, j := range jobs {
		j.stop()
	}
	s.wg.Wait()
}

type grantsKey struct{}

var methods = map[string]bool{
	"StartRoomCompositeEgress": true, "StartParticipantEgress": true, "StartTrackEgress": true,
	"ListEgress": true, "StopEgress": true,
	// Answered with Unimplemented by the Twirp server below.
	"StartWebEgress": true, "StartTrackCompositeEgress": true, "UpdateLayout": true, "UpdateStream": true, "StartEgress": true,
}

// Handler returns the HTTP handler. It authenticates each request's token and checks its route
// before reading any of its body, and reads at most maxBody bytes of it.
func (s *Service) Handler(v *auth.Verifier, maxBody int64) http.Handler {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	srv := livekit.NewEgressServer(twirpService{s})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			_ = twirp.WriteError(w, twirp.NewError(twirp.Unauthenticated, "missing or invalid access token"))
			return
		}
		g, err := v.Verify(tok)
		if err != nil {
			_ = twirp.WriteError(w, twirp.NewError(twirp.Unauthenticated, err.Error()))
			return
		}
		if g.Video == nil || !g.Video.RoomRecord {
			_ = twirp.WriteError(w, twirp.NewError(twirp.PermissionDenied, "token lacks the roomRecord grant"))
			return
		}
		if m, ok := strings.CutPrefix(r.URL.Path, Prefix); r.Method != http.MethodPost || !ok || !methods[m] {
			_ = twirp.WriteError(w, twirp.NewError(twirp.BadRoute, "no Egress method at "+r.Method+" "+r.URL.Path))
			return
		}
		if r.ContentLength > maxBody {
			_ = twirp.WriteError(w, tooLarge(maxBody))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			_ = twirp.WriteError(w, tooLarge(maxBody))
			return
		case err != nil:
			_ = twirp.WriteError(w, twirp.NewError(twirp.Malformed, "reading the request body: "+err.Error()))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), grantsKey{}, g)))
	})
}

func tooLarge(max int64) twirp.Error {
	return twirp.NewError(twirp.Malformed, fmt.Sprintf("request body is larger than %d bytes", max))
}

// checkRoom refuses a token limited to another room.
func checkRoom(ctx context.Context, room string) error {
	g, _ := ctx.Value(grantsKey{}).(*auth.Grants)
	if g == nil || g.Video == nil || !g.Video.RoomRecord {
		return twirp.NewError(twirp.PermissionDenied, "token lacks the roomRecord grant")
	}
	if g.Video.Room != "" && g.Video.Room != room {
		return twirp.NewError(twirp.PermissionDenied, "token is for room "+g.Video.Room)
	}
	return nil
}

// job is one egress; when its room moved here from a node that died, the segment of it recorded here.
type job struct {
	s         *Service
	room      Room
	rec       *recorder.Recording // nil: a job finished from earlier segments alone
	composite bool
	meeting   bool
	// top is the recording's directory (the composite goes there), dir this segment's;
	// earlier are the earlier segments' (relative to the service's Dir), oldest first.
	top, dir string
	earlier  []string

	mu   sync.Mutex
	info *livekit.EgressInfo
}

func (j *job) snapshot() *livekit.EgressInfo {
	j.mu.Lock()
	defer j.mu.Unlock()
	return proto.Clone(j.info).(*livekit.EgressInfo)
}

func (j *job) update(f func(*livekit.EgressInfo)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	f(j.info)
	j.info.UpdatedAt = time.Now().UnixNano()
}

func (j *job) stop() {
	j.update(func(i *livekit.EgressInfo) {
		if i.Status == livekit.EgressStatus_EGRESS_ACTIVE || i.Status == livekit.EgressStatus_EGRESS_STARTING {
			i.Status = livekit.EgressStatus_EGRESS_ENDING
		}
	})
	if j.rec != nil {
		go j.rec.Stop()
	}
}

// start begins the egress req describes (its RoomName, Request and SourceType): here if the room
// is on this node, else on the node that hosts it.
func (s *Service) start(ctx context.Context, req *livekit.EgressInfo) (*livekit.EgressInfo, error) {
	if err := checkRoom(ctx, req.RoomName); err != nil {
		return nil, err
	}
	if s.rooms.Room(req.RoomName) != nil || s.cfg.Peers == nil {
		return s.StartHere(req)
	}
	info, err := s.cfg.Peers.Start(ctx, req)
	if err != nil {
		return nil, peerError(err)
	}
	if info == nil {
		return nil, twirp.NewError(twirp.NotFound, "room "+req.RoomName+" is on no node")
	}
	return info, nil
}

// startIn begins recording r for the egress req describes.
func (s *Service) startIn(r Room, req *livekit.EgressInfo) (*livekit.EgressInfo, error) {
	now := time.Now()
	info := &livekit.EgressInfo{EgressId: guid.New(guid.EgressPrefix), RoomId: r.SID(), RoomName: req.RoomName,
		Status: livekit.EgressStatus_EGRESS_STARTING, StartedAt: now.UnixNano(), UpdatedAt: now.UnixNano(),
		Request: req.Request, SourceType: req.SourceType}
	_, started, err := s.begin(r, info, false, nil)
	return started, err
}

// begin starts recording r for the egress info describes and returns the job and its first
// state; meeting marks the room's own recording (recordMeeting), earlier the segments other
// nodes recorded before the room moved here.
func (s *Service) begin(r Room, info *livekit.EgressInfo, meeting bool, earlier []string) (*job, *livekit.EgressInfo, error) {
	want, composite := wantFor(info)
	id := info.EgressId
	top := filepath.Join(s.cfg.Dir, id)
	dir := top
	if len(earlier) > 0 {
		dir = filepath.Join(top, fmt.Sprintf("segment-%d", len(earlier)+1))
		info.Details = fmt.Sprintf("segment %d", len(earlier)+1)
	}
	j := &job{s: s, room: r, composite: composite, meeting: meeting, top: top, dir: dir, earlier: earlier, info: info}
	started := j.snapshot()
	rec, err := recorder.Start(r, recorder.Params{ID: id, Dir: dir, Want: want, Logger: s.log})
	if err != nil {
		return nil, nil, twirp.NewError(twirp.Internal, err.Error())
	}
	j.rec = rec
	j.update(func(i *livekit.EgressInfo) {
		i.Status = livekit.EgressStatus_EGRESS_ACTIVE
		i.ManifestLocation = rec.ManifestPath()
	})
	s.mu.Lock()
	s.jobs[id] = j
	s.recording[r]++
	if meeting {
		s.meetings[r] = j
	}
	s.mu.Unlock()
	r.SetRecording(true)
	s.keep(j)
	j.persist()
	if len(earlier) == 0 {
		s.emit("egress_started", j.snapshot()) // a later segment goes on with a started recording
	}
	s.wg.Add(1)
	go j.follow() // #nosec G118 -- the recording outlives the request that started it
	return j, started, nil
}

// recordMeeting starts or stops the meeting's own recording of r: a room composite, one at a
// time per room, listed by ListEgress as any other.
func (s *Service) recordMeeting(r Room, roomName string, on bool) error {
	s.meetMu.Lock() // one start or stop at a time: two hosts clicking at once start one recording
	defer s.meetMu.Unlock()
	s.mu.Lock()
	j := s.meetings[r]
	if j != nil && j.snapshot().Status > livekit.EgressStatus_EGRESS_ACTIVE {
		j = nil // it has ended (its room closed): a new one may start
	}
	s.mu.Unlock()
	if !on {
		if j != nil {
			j.stop()
		}
		return nil
	}
	if j != nil {
		return nil
	}
	now := time.Now()
	info := &livekit.EgressInfo{EgressId: guid.New(guid.EgressPrefix), RoomId: r.SID(), RoomName: roomName,
		Status: livekit.EgressStatus_EGRESS_STARTING, StartedAt: now.UnixNano(), UpdatedAt: now.UnixNano(),
		Request:    &livekit.EgressInfo_RoomComposite{RoomComposite: &livekit.RoomCompositeEgressRequest{RoomName: roomName}},
		SourceType: livekit.EgressSourceType_EGRESS_SOURCE_TYPE_SDK}
	_, _, err := s.begin(r, info, true, nil)
	return err
}

// follow waits for the recording to end, then composes it and reports the files.
func (j *job) follow() {
	defer j.s.wg.Done()
	<-j.rec.Done()
	j.s.mu.Lock()
	j.s.recording[j.room]--
	off := j.s.recording[j.room] == 0
	if off {
		delete(j.s.recording, j.room)
	}
	if j.s.meetings[j.room] == j {
		delete(j.s.meetings, j.room)
	}
	j.s.mu.Unlock()
	if off {
		j.room.SetRecording(false)
	}
	if j.room.Moved() && j.s.cfg.Ledger != nil {
		// The meeting goes on on another node (this one drains, or lost the room's lease), which
		// records the next segment and finishes the recording: it is no longer this node's.
		id := j.snapshot().EgressId
		j.s.mu.Lock()
		if j.s.jobs[id] == j {
			delete(j.s.jobs, id)
		}
		j.s.mu.Unlock()
		j.s.release(j)
		j.s.log.Info("the room moved to another node: the recording goes on there", "egress", id)
		return
	}
	m := j.rec.Manifest()
	j.finish(&m, j.rec.ManifestPath())
}

// A composite's file names: the picture and the mix, or the mix alone.
const (
	compositeFile      = "composite.mp4"
	compositeAudioFile = "composite.m4a"
)

// finish composes the recording (this segment, m, after the earlier ones; m nil: the earlier
// ones alone), stores and reports the files, and forgets the recording in the ledger.
func (j *job) finish(m *recorder.Manifest, manifestPath string) {
	defer j.s.forget(j)
	j.update(func(i *livekit.EgressInfo) { i.Status = livekit.EgressStatus_EGRESS_ENDING })
	whole, missing := j.wholeManifest(m)
	if len(j.earlier) > 0 {
		manifestPath = filepath.Join(j.top, "recording.json")
		if err := writeJSON(manifestPath, whole); err != nil {
			j.s.log.Warn("the recording's manifest was not written", "egress", whole.ID, "err", err)
		}
		j.update(func(i *livekit.EgressInfo) { i.ManifestLocation = manifestPath })
	}
	var results []*livekit.FileInfo
	var failure error
	if j.composite {
		// An audio-only room composite is the mix alone, as LiveKit's egress makes it.
		audioOnly := j.snapshot().GetRoomComposite().GetAudioOnly()
		out := filepath.Join(j.top, compositeFile)
		if audioOnly {
			out = filepath.Join(j.top, compositeAudioFile)
		}
		progress := func(done float64) {
			j.update(func(i *livekit.EgressInfo) { i.Details = fmt.Sprintf("composing: %d%%", int(done*100)) })
		}
		params := recorder.CompositeParams{Output: out, Threads: j.s.cfg.CompositeThreads, Progress: progress, AudioOnly: audioOnly}
		if err := recorder.Composite(j.s.ctx, whole, params); err != nil {
			failure = err
		} else {
			results = append(results, fileInfo(out, whole.Start, *whole.End))
		}
	} else {
		for _, t := range whole.Tracks {
			if t.File != "" {
				results = append(results, fileInfo(t.File, t.Start, t.End))
			}
		}
		if len(results) == 0 {
			failure = errors.New("no media was recorded")
		}
	}
	if failure != nil && onlyEncrypted(whole) {
		// Say why in words a host understands, not ffmpeg's.
		failure = errors.New("every track was end-to-end encrypted: the server cannot record this meeting")
	}
	if failure == nil && j.s.cfg.Store != nil {
		failure = j.upload(results, manifestPath)
	}
	if failure != nil && j.s.ctx.Err() != nil && j.s.cfg.Ledger == nil {
		// Cut by this node stopping, not failed: the node's next start finishes it.
		j.update(func(i *livekit.EgressInfo) { i.Details = "finished when the node starts again" })
		j.persist()
		return
	}
	j.update(func(i *livekit.EgressInfo) {
		i.Details = ""
		if len(missing) > 0 {
			i.Details = "segments lost with their node: " + strings.Join(missing, ", ")
		}
		i.EndedAt = time.Now().UnixNano()
		i.FileResults = results
		if len(results) > 0 {
			i.Result = &livekit.EgressInfo_File{File: results[0]}
		}
		if failure != nil {
			i.Status = livekit.EgressStatus_EGRESS_FAILED
			i.Error = failure.Error()
			return
		}
		i.Status = livekit.EgressStatus_EGRESS_COMPLETE
	})
	j.persist()
	j.s.emit("egress_ended", j.snapshot())
}

// wholeManifest is the recording across its segments: the earlier ones' manifests as their nodes
// last wrote them, then m. It names the earlier segments whose manifests cannot be read (a node's
// own disk rather than shared storage).
func (j *job) wholeManifest(m *recorder.Manifest) (recorder.Manifest, []string) {
	var parts []recorder.Manifest
	var missing []string
	for _, rel := range j.earlier {
		p, err := recorder.ReadManifest(filepath.Join(j.s.cfg.Dir, rel, "manifest.json"))
		if err != nil {
			j.s.log.Warn("an earlier segment of a recording cannot be read", "segment", rel, "err", err)
			missing = append(missing, rel)
			continue
		}
		parts = append(parts, p)
	}
	if m != nil {
		parts = append(parts, *m)
	}
	if len(parts) == 0 {
		now := time.Now().UTC()
		return recorder.Manifest{ID: j.snapshot().EgressId, Room: j.snapshot().RoomName, Start: now, End: &now}, missing
	}
	return recorder.MergeSegments(parts), missing
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// onlyEncrypted says whether the recording saw tracks and every one was end-to-end encrypted.
func onlyEncrypted(m recorder.Manifest) bool {
	for _, t := range m.Tracks {
		if t.Error != recorder.ErrEncrypted {
			return false
		}
	}
	return len(m.Tracks) > 0
}

// upload puts the files and the manifest in the store, each under its path in the recordings
// directory; the results then name their places there.
func (j *job) upload(results []*livekit.FileInfo, manifestPath string) error {
	ctx, cancel := context.WithTimeout(j.s.ctx, 30*time.Minute)
	defer cancel()
	for _, r := range results {
		loc, err := j.s.cfg.Store.Put(ctx, j.s.storeKey(r.Location), r.Location)
		if err != nil {
			return err
		}
		r.Location = loc
	}
	loc, err := j.s.cfg.Store.Put(ctx, j.s.storeKey(manifestPath), manifestPath)
	if err != nil {
		return err
	}
	j.update(func(i *livekit.EgressInfo) { i.ManifestLocation = loc })
	if j.top != j.dir {
		if err := markUploaded(j.top); err != nil {
			return err
		}
	}
	return markUploaded(j.dir)
}

// storeKey is a recording's file's key in the store: its path under Dir ("EG_…/name").
func (s *Service) storeKey(path string) string {
	rel, err := filepath.Rel(s.cfg.Dir, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.Base(path)
	}
	return filepath.ToSlash(rel)
}

// signLinks replaces the stored files' locations by links that download them for a while.
func (s *Service) signLinks(ctx context.Context, i *livekit.EgressInfo) {
	if s.cfg.Store == nil {
		return
	}
	ttl := s.cfg.LinkTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	sign := func(loc string) string {
		if !strings.HasPrefix(loc, "s3://") {
			return loc
		}
		u, err := s.cfg.Store.SignedURL(ctx, loc, ttl)
		if err != nil {
			s.log.Warn("signing a recording's link failed", "location", loc, "err", err)
			return loc
		}
		return u
	}
	for _, f := range i.FileResults {
		f.Location = sign(f.Location)
	}
	if f, ok := i.Result.(*livekit.EgressInfo_File); ok && f.File != nil {
		f.File.Location = sign(f.File.Location)
	}
	i.ManifestLocation = sign(i.ManifestLocation)
}

func fileInfo(path string, start, end time.Time) *livekit.FileInfo {
	fi := &livekit.FileInfo{Filename: filepath.Base(path), Location: path, StartedAt: start.UnixNano(), EndedAt: end.UnixNano(),
		Duration: end.Sub(start).Nanoseconds()}
	if st, err := os.Stat(path); err == nil {
		fi.Size = st.Size()
	}
	return fi
}

// list returns the egresses of a room (all rooms if empty), or one by id.
func (s *Service) list(roomName, id string, active bool) []*livekit.EgressInfo {
	s.mu.Lock()
	jobs := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	var out []*livekit.EgressInfo
	for _, j := range jobs {
		i := j.snapshot()
		if (roomName != "" && i.RoomName != roomName) || (id != "" && i.EgressId != id) {
			continue
		}
		if i.Status > livekit.EgressStatus_EGRESS_ENDING && j.top != "" && !exists(j.top) {
			s.forgetDeleted(j) // deleted by another node sharing the directory, or by hand
			continue
		}
		if active && i.Status > livekit.EgressStatus_EGRESS_ENDING {
			continue
		}
		out = append(out, i)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].StartedAt < out[b].StartedAt })
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !os.IsNotExist(err)
}

// forgetDeleted drops a finished recording whose directory is gone.
func (s *Service) forgetDeleted(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id := j.snapshot().EgressId; s.jobs[id] == j {
		delete(s.jobs, id)
	}
}

// Events hears the recordings' webhook events (egress_started, egress_ended).
type Events interface {
	Event(e *livekit.WebhookEvent)
}

func (s *Service) emit(event string, info *livekit.EgressInfo) {
	if s.cfg.Events != nil {
		s.cfg.Events.Event(&livekit.WebhookEvent{Event: event, EgressInfo: info, Id: guid.New("EV_"), CreatedAt: time.Now().Unix()})
	}
}
