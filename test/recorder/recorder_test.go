// Package recorder_test records real meetings: server-sdk-go clients publish known media to a node
// while LiveKit's EgressClient drives recordings, and ffprobe checks the files.
package recorder_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	"github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/recorder"
)

func TestMain(m *testing.M) {
	lksdk.SetLogger(logger.GetDiscardLogger())
	os.Exit(m.Run())
}

func join(t *testing.T, n *testkit.Node, room, identity string) *lksdk.Room {
	t.Helper()
	return joinWith(t, n, room, identity, lksdk.NewRoomCallback())
}

func joinWith(t *testing.T, n *testkit.Node, room, identity string, cb *lksdk.RoomCallback) *lksdk.Room {
	t.Helper()
	r, err := lksdk.ConnectToRoomWithToken(n.URL(), n.Token(t, room, identity), cb,
		lksdk.WithAutoSubscribe(false), lksdk.WithICETransportPolicy(webrtc.ICETransportPolicyRelay),
		lksdk.WithDisableRegionDiscovery(), lksdk.WithConnectTimeout(15*time.Second))
	if err != nil {
		t.Fatalf("%s: connect: %v", identity, err)
	}
	t.Cleanup(r.Disconnect)
	return r
}

func publish(t *testing.T, r *lksdk.Room, file string, frame time.Duration, name string, w, h uint32) *lksdk.LocalTrackPublication {
	t.Helper()
	tr, err := lksdk.NewLocalFileTrack(file, lksdk.ReaderTrackWithFrameDuration(frame))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := r.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: name, VideoWidth: int(w), VideoHeight: int(h)})
	if err != nil {
		t.Fatalf("publish %s: %v", name, err)
	}
	return pub
}

// startTrackEgress starts recording a track as soon as the node has it: the room knows the track
// once its media arrived, and nothing tells the test when.
func startTrackEgress(t *testing.T, ec *lksdk.EgressClient, room, track string) *livekit.EgressInfo {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		eg, err := ec.StartTrackEgress(context.Background(), &livekit.TrackEgressRequest{RoomName: room, TrackId: track})
		if err == nil {
			return eg
		}
		if time.Now().After(deadline) {
			t.Fatalf("start a track egress: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopAndWait stops an egress and returns its info once it has ended (COMPLETE or FAILED).
func stopAndWait(t *testing.T, ec *lksdk.EgressClient, id string) *livekit.EgressInfo {
	t.Helper()
	ctx := context.Background()
	if _, err := ec.StopEgress(ctx, &livekit.StopEgressRequest{EgressId: id}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := ec.ListEgress(ctx, &livekit.ListEgressRequest{EgressId: id})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
		if info := list.Items[0]; info.Status > livekit.EgressStatus_EGRESS_ENDING {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("egress %s did not end: %v", id, list.Items[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probe returns ffprobe's answer for one entry of the first stream of a kind.
func probe(t *testing.T, file, stream, entries string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", entries,
		"-of", "default=nw=1:nk=1", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	return strings.TrimSpace(string(out))
}

// decodes checks that ffmpeg decodes the whole file without errors; a file cut short may end in
// the middle of a block. The frames keep the file's own time base: in the default one of the
// guessed frame rate, two frames of a variable-rate camera less than a frame apart (Chromium's file
// camera catching up on a loaded machine) would be reported as non-monotonic by the null muxer.
func decodes(t *testing.T, file string, cut bool) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-enc_time_base", "-1", "-f", "null", "-").CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if cut {
		msg = strings.TrimSpace(strings.ReplaceAll(msg, "File ended prematurely", ""))
		msg = strings.TrimPrefix(msg, "[matroska,webm @")
		if i := strings.Index(msg, "]"); i >= 0 && strings.HasPrefix(string(out), "[matroska,webm @") {
			msg = strings.TrimSpace(msg[i+1:])
		}
	}
	if err != nil || len(msg) > 0 {
		t.Errorf("%s does not decode cleanly: %v %s", file, err, out)
	}
}

// oneSliceH264 encodes H.264 with one slice per frame: the SDK's file track sends each NAL unit as a
// frame of its own, so testkit's multi-slice file would reach any subscriber as broken frames. The
// file lasts seconds (the SDK does not loop it).
func oneSliceH264(t *testing.T, seconds int) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "one-slice.h264")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=640x360:rate=30:duration=%d", seconds),
		"-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-bf", "0", "-g", "30", "-threads", "1",
		"-x264-params", "sliced-threads=0", "-b:v", "600k", "-bsf:v", "h264_mp4toannexb", f).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	return f
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
}

// Two participants (Opus and VP8 720p; H.264 360p) are recorded by a track egress and a room
// composite driven by LiveKit's EgressClient: the per-track files have the right codec, size and
// duration, a copy taken mid-recording plays, and the composite holds both videos and the audio.
func TestTrackAndCompositeEgress(t *testing.T) {
	dir := t.TempDir()
	if d := os.Getenv("HOP_TEST_RECORDINGS"); d != "" {
		dir = d // kept for a look after the test
	}
	n := testkit.StartNode(t, func(c *config.Config) { c.Recorder.Dir = dir })
	m := testkit.MakeMedia(t)
	ctx := context.Background()

	anh := join(t, n, "rec", "Trần Thị Ánh")
	recording := make(chan bool, 8)
	cb := lksdk.NewRoomCallback()
	cb.OnRecordingStatusChanged = func(on bool) { recording <- on }
	bob := joinWith(t, n, "rec", "bob", cb)
	mic := publish(t, anh, m.Opus, 20*time.Millisecond, "mic", 0, 0)
	cam := publish(t, anh, m.VP8[720], 33*time.Millisecond, "cam", 1280, 720)
	publish(t, bob, oneSliceH264(t, 12), 33*time.Millisecond, "cam", 640, 360)

	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	rs := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	// Wait until the node has all three tracks' media (no event reaches a test for that).
	deadline := time.Now().Add(20 * time.Second)
	for {
		ps, err := rs.ListParticipants(ctx, &livekit.ListParticipantsRequest{Room: "rec"})
		nt := 0
		if err == nil {
			for _, p := range ps.Participants {
				nt += len(p.Tracks)
			}
		}
		if nt == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node has %d of 3 tracks", nt)
		}
		time.Sleep(100 * time.Millisecond)
	}

	trackEg, err := ec.StartTrackEgress(ctx, &livekit.TrackEgressRequest{RoomName: "rec", TrackId: cam.SID()})
	if err != nil || trackEg.Status != livekit.EgressStatus_EGRESS_STARTING {
		t.Fatalf("start track egress: %v %v", trackEg, err)
	}
	comp, err := ec.StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: "rec"})
	if err != nil || comp.Status != livekit.EgressStatus_EGRESS_STARTING {
		t.Fatalf("start composite egress: %v %v", comp, err)
	}
	part, err := ec.StartParticipantEgress(ctx, &livekit.ParticipantEgressRequest{RoomName: "rec", Identity: "bob"})
	if err != nil || part.Status != livekit.EgressStatus_EGRESS_STARTING {
		t.Fatalf("start participant egress: %v %v", part, err)
	}
	rooms, err := rs.ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{"rec"}})
	if err != nil || len(rooms.Rooms) != 1 || !rooms.Rooms[0].ActiveRecording {
		t.Errorf("room while recording: %v %v, want active_recording", rooms, err)
	}
	// Those in the room are told; who joins later sees it on joining.
	select {
	case on := <-recording:
		if !on {
			t.Errorf("bob was told recording is off")
		}
	case <-time.After(5 * time.Second):
		t.Errorf("bob was not told that recording started")
	}
	if late := join(t, n, "rec", "late"); !late.IsRecording() {
		t.Errorf("a participant joining during the recording does not see it")
	}
	list, err := ec.ListEgress(ctx, &livekit.ListEgressRequest{RoomName: "rec"})
	if err != nil || len(list.Items) != 3 {
		t.Fatalf("list: %v %v", list, err)
	}
	for _, i := range list.Items {
		if i.Status != livekit.EgressStatus_EGRESS_ACTIVE {
			t.Errorf("%s: %s, want active", i.EgressId, i.Status)
		}
	}

	// The media files last 12 s; record most of that, and copy the camera's file half way as if
	// the process had been killed then.
	time.Sleep(2 * time.Second)
	mutedAt := time.Now()
	mic.SetMuted(true)
	time.Sleep(time.Second)
	mic.SetMuted(false)
	unmutedAt := time.Now()
	time.Sleep(time.Second)
	var live string
	files, _ := filepath.Glob(filepath.Join(dir, trackEg.EgressId, "*.webm"))
	if len(files) != 1 {
		t.Fatalf("track egress files after 4 s: %v", files)
	}
	live = filepath.Join(t.TempDir(), "cut.webm")
	copyFile(t, files[0], live)
	cutAt := time.Now()
	time.Sleep(4 * time.Second)

	for _, id := range []string{trackEg.EgressId, comp.EgressId, part.EgressId} {
		info, err := ec.StopEgress(ctx, &livekit.StopEgressRequest{EgressId: id})
		if err != nil || info.Status != livekit.EgressStatus_EGRESS_ENDING {
			t.Fatalf("stop %s: %v %v", id, info, err)
		}
	}
	done := map[string]*livekit.EgressInfo{}
	deadline = time.Now().Add(90 * time.Second)
	for len(done) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("egresses not complete: %v", done)
		}
		time.Sleep(200 * time.Millisecond)
		list, err := ec.ListEgress(ctx, &livekit.ListEgressRequest{RoomName: "rec"})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range list.Items {
			if i.Status >= livekit.EgressStatus_EGRESS_COMPLETE {
				done[i.EgressId] = i
			}
		}
	}
	rooms, err = rs.ListRooms(ctx, &livekit.ListRoomsRequest{Names: []string{"rec"}})
	if err != nil || len(rooms.Rooms) != 1 || rooms.Rooms[0].ActiveRecording {
		t.Errorf("room after recording: %v %v, want no active_recording", rooms, err)
	}
	select {
	case on := <-recording:
		if on {
			t.Errorf("bob was told recording is on again")
		}
	case <-time.After(5 * time.Second):
		t.Errorf("bob was not told that recording stopped")
	}

	// The track egress: one WebM of VP8 at 1280x720 as long as it was recorded.
	te := done[trackEg.EgressId]
	if te.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(te.FileResults) != 1 {
		t.Fatalf("track egress: %v", te)
	}
	f := te.FileResults[0]
	if got := probe(t, f.Location, "v:0", "stream=codec_name,width,height"); got != "vp8\n1280\n720" {
		t.Errorf("%s: %q, want vp8 1280x720", f.Filename, got)
	}
	want := time.Duration(f.Duration).Seconds()
	if got := testkit.MediaSpan(t, f.Location, "v:0"); want < 6 || got < want-0.5 || got > want+0.5 {
		t.Errorf("%s lasts %.2f s, recorded for %.2f s", f.Filename, got, want)
	}
	decodes(t, f.Location, false)

	// The copy taken mid-recording plays up to within 2 s of when it was taken.
	decodes(t, live, true)
	if got, want := testkit.MediaSpan(t, live, "v:0"), cutAt.Sub(time.Unix(0, f.StartedAt)).Seconds(); got < want-2 {
		t.Errorf("copy taken %.2f s into the recording plays %.2f s", want, got)
	}

	// The composite's manifest names every track; each file has its codec and duration.
	ce := done[comp.EgressId]
	if ce.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(ce.FileResults) != 1 {
		t.Fatalf("composite egress: %v", ce)
	}
	man, err := recorder.ReadManifest(ce.ManifestLocation)
	if err != nil {
		t.Fatal(err)
	}
	codecs := map[string]string{}
	for _, tr := range man.Tracks {
		stream := "v:0"
		if tr.Kind == "AUDIO" {
			stream = "a:0"
		}
		codecs[tr.Participant+"/"+probe(t, tr.File, stream, "stream=codec_name")] = tr.File
		want := tr.End.Sub(tr.Start).Seconds()
		if got := testkit.MediaSpan(t, tr.File, stream); want < 6 || got < want-0.5 || got > want+0.5 {
			t.Errorf("%s lasts %.2f s, recorded for %.2f s", tr.File, got, want)
		}
		decodes(t, tr.File, false)
	}
	for _, k := range []string{"Trần Thị Ánh/opus", "Trần Thị Ánh/vp8", "bob/h264"} {
		if codecs[k] == "" {
			t.Errorf("manifest lacks %s: %v", k, codecs)
		}
	}
	if len(man.Participants) != 3 || man.End == nil { // late joined too
		t.Errorf("manifest participants %v, end %v", man.Participants, man.End)
	}
	// The mic's mute shows as one interval, within the manifest's polling of when it happened.
	for _, tr := range man.Tracks {
		if tr.Kind != "AUDIO" {
			continue
		}
		if len(tr.Muted) != 1 || tr.Muted[0].End == nil ||
			tr.Muted[0].Start.Sub(mutedAt).Abs() > 500*time.Millisecond || tr.Muted[0].End.Sub(unmutedAt).Abs() > 500*time.Millisecond {
			t.Errorf("mic muted %v, want one interval from %v to %v", tr.Muted, mutedAt, unmutedAt)
		}
	}
	// The participant egress composes bob's camera alone (he has no audio).
	pe := done[part.EgressId]
	if pe.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(pe.FileResults) != 1 {
		t.Fatalf("participant egress: %v", pe)
	}
	if got := probe(t, pe.FileResults[0].Location, "", "stream=codec_name"); got != "h264" {
		t.Errorf("participant composite streams: %q, want h264 only", got)
	}
	if got := probe(t, ce.FileResults[0].Location, "v:0", "stream=codec_name,width,height"); got != "h264\n1280\n720" {
		t.Errorf("composite video: %q", got)
	}
	if got := probe(t, ce.FileResults[0].Location, "a:0", "stream=codec_name"); got != "aac" {
		t.Errorf("composite audio: %q", got)
	}
	decodes(t, ce.FileResults[0].Location, false)
	// Half way through, the speaker (the only one with audio) is on the stage and both cameras
	// are in the strip: a 4x4 grey thumbnail has its top rows lit, and the strip's first two tiles.
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", "4", "-i", ce.FileResults[0].Location, "-frames:v", "1",
		"-vf", "scale=4:4:flags=area", "-f", "rawvideo", "-pix_fmt", "gray", "-").Output()
	if err != nil || len(out) != 16 {
		t.Fatalf("composite frame at 4 s: %v %v", out, err)
	}
	if out[5] < 20 || out[6] < 20 || out[12] < 10 || out[13] < 10 || out[15] > 5 {
		t.Errorf("composite frame at 4 s (4x4 grey) %v: want the stage and two strip tiles lit, the fourth dark", out)
	}
	// The stage follows who speaks: the manifest has it from the publisher's audio levels.
	var speaking bool
	for _, tr := range man.Tracks {
		if tr.Kind == "AUDIO" && len(tr.Speaking) > 0 {
			speaking = true
		}
	}
	if !speaking {
		t.Errorf("manifest has no speaking intervals (the SDK sends audio levels)")
	}
}
