package multinode

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/recorder"
	rediscluster "github.com/hop-meet/hop/signaling/routing/redis"
)

// Kill -9 the node recording a meeting (the nodes share the recordings directory, as a cluster's
// storage): the files it wrote play up to the last 2 s before the kill; the node the room moves to
// records on as the next segment of the same egress, and its composite covers both segments.
func TestRecordingFollowsItsRoom(t *testing.T) {
	m := startRecordedMeeting(t, "recorded", "")
	trio, shared, nodes, ids, host, p1, p2 := m.roomTrio, m.shared, m.nodes, m.ids, m.host, m.p1, m.p2
	p1.waitMedia("p2", time.Now(), 25, 20*time.Second)
	ctx := context.Background()

	info, err := egressClient(nodes[host]).StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: "recorded", AudioOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	id := info.EgressId
	first := waitSegment(t, filepath.Join(shared, id, "manifest.json"), 2)
	time.Sleep(4 * time.Second) // the meeting goes on, recorded

	killed := time.Now()
	if err := nodes[host].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-nodes[host].exited
	// What the killed node wrote plays up to its last seconds.
	seg1, err := recorder.ReadManifest(filepath.Join(shared, id, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range seg1.Tracks {
		want := killed.Sub(tr.Start).Seconds() - 2
		if got := testkit.MediaSpan(t, tr.File, "a"); got < want {
			t.Errorf("%s plays %.2f s, want at least %.2f (to 2 s before the kill)", filepath.Base(tr.File), got, want)
		}
	}

	p1.waitMedia("p2", killed, 10, 30*time.Second)
	p2.waitMedia("p1", killed, 10, 30*time.Second)
	newOwner, _, err := rediscluster.RoomOwner(ctx, trio.rdb, "recorded")
	if err != nil || newOwner == "" || newOwner == trio.owner {
		t.Fatalf("room owner after the kill: %q (was %q), %v", newOwner, trio.owner, err)
	}
	var next *procNode
	for _, n := range nodes {
		if ids[n.url] == newOwner {
			next = n
		}
	}
	ec := egressClient(next)
	waitEgress(t, ec, id, func(i *livekit.EgressInfo) bool {
		return i.Status == livekit.EgressStatus_EGRESS_ACTIVE && i.Details == "segment 2"
	})
	waitSegment(t, filepath.Join(shared, id, "segment-2", "manifest.json"), 2)
	time.Sleep(3 * time.Second)

	stopped := time.Now()
	if _, err := ec.StopEgress(ctx, &livekit.StopEgressRequest{EgressId: id}); err != nil {
		t.Fatal(err)
	}
	done := waitEgress(t, ec, id, func(i *livekit.EgressInfo) bool { return i.Status >= livekit.EgressStatus_EGRESS_COMPLETE })
	if done.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(done.FileResults) != 1 {
		t.Fatalf("egress ended %s (%s) with %v", done.Status, done.Error, done.FileResults)
	}
	whole, err := recorder.ReadManifest(done.ManifestLocation)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Tracks) != 4 {
		t.Errorf("the recording's manifest lists %d tracks, want 2 per segment", len(whole.Tracks))
	}
	dur := testkit.MediaDuration(t, done.FileResults[0].Location)
	// From the first segment's first frame to the stop, the gap while the room moved included.
	want := stopped.Sub(first).Seconds() - 1.5
	t.Logf("recording %s: killed %.1f s in, composite %.2f s, covering %.2f s from the first frame to the stop",
		id, killed.Sub(first).Seconds(), dur, stopped.Sub(first).Seconds())
	if dur < want {
		t.Errorf("the composite lasts %.2f s, want at least %.2f: it does not cover both segments", dur, want)
	}
}

// A track's recording ends with the track, so when its node is killed it does not go on: the node
// the room moves to finishes it from what was written, and its file plays up to the last 2 s.
func TestTrackRecordingFinishedAfterItsNodeDies(t *testing.T) {
	m := startRecordedMeeting(t, "track", "")
	shared, nodes, host, a, b, p1, p2 := m.shared, m.nodes, m.host, m.a, m.b, m.p1, m.p2
	ctx := context.Background()
	pubs := p1.room.LocalParticipant.TrackPublications()
	if len(pubs) != 1 {
		t.Fatalf("p1 publishes %d tracks", len(pubs))
	}
	info, err := egressClient(nodes[a]).StartTrackEgress(ctx, &livekit.TrackEgressRequest{RoomName: "track", TrackId: pubs[0].SID()})
	if err != nil {
		t.Fatal(err)
	}
	id := info.EgressId
	waitSegment(t, filepath.Join(shared, id, "manifest.json"), 1)
	time.Sleep(3 * time.Second) // recorded

	killed := time.Now()
	if err := nodes[host].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-nodes[host].exited
	p2.waitMedia("p1", killed, 10, 30*time.Second)

	// Asked through a node that never hosted it, as an operator's tool would.
	done := waitEgress(t, egressClient(nodes[b]), id, func(i *livekit.EgressInfo) bool {
		return i.Status >= livekit.EgressStatus_EGRESS_COMPLETE
	})
	if done.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(done.FileResults) != 1 {
		t.Fatalf("track egress ended %s (%s) with %v", done.Status, done.Error, done.FileResults)
	}
	if done.Details != "" {
		t.Errorf("details %q, want none: its only segment was readable", done.Details)
	}
	f := done.FileResults[0]
	if f.EndedAt <= f.StartedAt || f.Size == 0 {
		t.Errorf("file result %v: no span or no size", f)
	}
	want := killed.Sub(time.Unix(0, f.StartedAt)).Seconds() - 2
	got := testkit.MediaSpan(t, f.Location, "a")
	t.Logf("track egress %s: %s plays %.2f s, killed %.2f s after its start", id, filepath.Base(f.Location), got, want+2)
	if got < want {
		t.Errorf("%s plays %.2f s, want at least %.2f (to 2 s before the kill)", f.Location, got, want)
	}
	// The room's new node does not record the track again.
	if res, err := egressClient(nodes[a]).ListEgress(ctx, &livekit.ListEgressRequest{RoomName: "track", Active: true}); err != nil || len(res.Items) != 0 {
		t.Errorf("active egresses after the track's recording ended: %v (%v)", res.GetItems(), err)
	}
}

// Kill -9 the node recording a meeting whose participants then leave rather than come back: no
// node hosts the room any more. ListEgress on any node shows its recordings still active, and
// says why; StopEgress finishes one at once from what the dead node wrote, and the other is
// finished by a surviving node once recorder.abandoned_after has passed. Someone joining the
// room afterwards does not restart them.
func TestAbandonedRecordingIsFinished(t *testing.T) {
	const abandonedAfter = 8 * time.Second
	m := startRecordedMeeting(t, "left", "\n  abandoned_after: "+abandonedAfter.String())
	shared, nodes, host, a, b, p1, p2 := m.shared, m.nodes, m.host, m.a, m.b, m.p1, m.p2
	ctx := context.Background()
	var ids2 []string
	var first time.Time
	for range 2 {
		info, err := egressClient(nodes[a]).StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: "left", AudioOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		ids2 = append(ids2, info.EgressId)
		if f := waitSegment(t, filepath.Join(shared, info.EgressId, "manifest.json"), 2); first.IsZero() || f.After(first) {
			first = f // the later of the two starts
		}
	}
	stopped, abandoned := ids2[0], ids2[1]
	time.Sleep(3 * time.Second) // recorded

	killed := time.Now()
	if err := nodes[host].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p1.room.Disconnect()
	p2.room.Disconnect()
	<-nodes[host].exited

	ec := egressClient(nodes[b])
	for _, id := range ids2 {
		waitEgress(t, ec, id, func(i *livekit.EgressInfo) bool {
			return i.Status == livekit.EgressStatus_EGRESS_ACTIVE && strings.HasPrefix(i.Details, "its node stopped")
		})
	}
	if _, err := egressClient(nodes[a]).StopEgress(ctx, &livekit.StopEgressRequest{EgressId: stopped}); err != nil {
		t.Fatalf("stopping a recording whose node died: %v", err)
	}
	for _, id := range ids2 {
		done := waitEgress(t, ec, id, func(i *livekit.EgressInfo) bool { return i.Status >= livekit.EgressStatus_EGRESS_COMPLETE })
		if done.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(done.FileResults) != 1 || done.Details != "" {
			t.Fatalf("%s ended %s (%s, details %q) with %v", id, done.Status, done.Error, done.Details, done.FileResults)
		}
		// The stopped one at once, the other not before its room had been on no node that long.
		after := time.Unix(0, done.EndedAt).Sub(killed)
		if id == stopped && after >= abandonedAfter {
			t.Errorf("the stopped recording ended %v after the kill: it waited for abandoned_after", after)
		}
		if id == abandoned && after < abandonedAfter {
			t.Errorf("the abandoned recording ended %v after the kill, sooner than abandoned_after", after)
		}
		dur := testkit.MediaDuration(t, done.FileResults[0].Location)
		want := killed.Sub(first).Seconds() - 2
		t.Logf("recording %s: killed %.2f s in, finished %.1f s after the kill, composite %.2f s", id, killed.Sub(first).Seconds(), after.Seconds(), dur)
		if dur < want {
			t.Errorf("%s: the composite lasts %.2f s, want at least %.2f (to 2 s before the kill)", id, dur, want)
		}
	}

	// Someone comes back later: the room opens again without the finished recordings.
	join(t, nodes[a].url, "left", "p3")
	res, err := egressClient(nodes[a]).ListEgress(ctx, &livekit.ListEgressRequest{RoomName: "left", Active: true})
	if err != nil || len(res.Items) != 0 {
		t.Errorf("active egresses after a rejoin: %v (%v)", res.GetItems(), err)
	}
}

// recordedMeeting is a room on one of three nodes that share a recordings directory (extra is
// more of the recorder's configuration), with p1 and p2 joined through the other two, once p2
// receives p1.
type recordedMeeting struct {
	*roomTrio
	shared string
	a, b   int // the nodes p1 and p2 joined through
	p1, p2 *peer
}

func startRecordedMeeting(t *testing.T, room, extra string) *recordedMeeting {
	t.Helper()
	bin := testkit.BuildHop(t)
	m := &recordedMeeting{shared: t.TempDir()}
	m.roomTrio = startRoomTrio(t, bin, room, "recorder:\n  dir: "+m.shared+extra)
	if m.host < 0 {
		t.Fatalf("room on %q, not one of the nodes %v", m.owner, m.ids)
	}
	m.a, m.b = (m.host+1)%3, (m.host+2)%3
	m.p1 = join(t, m.nodes[m.a].url, room, "p1")
	m.p2 = join(t, m.nodes[m.b].url, room, "p2")
	m.p2.waitMedia("p1", time.Now(), 25, 20*time.Second)
	return m
}

func egressClient(n *procNode) *lksdk.EgressClient {
	return lksdk.NewEgressClient(n.httpURL, config.DevAPIKey, config.DevAPISecret)
}

func egressClientOf(n *testkit.Node) *lksdk.EgressClient {
	return lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
}

// waitSegment waits until the segment's manifest shows tracks tracks with frames written, and
// returns its earliest track start.
func waitSegment(t *testing.T, manifest string, tracks int) time.Time {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := recorder.ReadManifest(manifest)
		n := 0
		var first time.Time
		for _, tr := range m.Tracks {
			if tr.Frames > 0 {
				n++
				if first.IsZero() || tr.Start.Before(first) {
					first = tr.Start
				}
			}
		}
		if err == nil && n >= tracks {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d tracks with frames, want %d (%v)", manifest, n, tracks, err)
		}
		time.Sleep(100 * time.Millisecond) // the recorder writes its manifest on its own clock
	}
}

// waitEgress polls ListEgress until the egress (the only one when id is empty) satisfies ok, and
// returns it.
func waitEgress(t *testing.T, ec *lksdk.EgressClient, id string, ok func(*livekit.EgressInfo) bool) *livekit.EgressInfo {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last *livekit.EgressInfo
	for {
		res, err := ec.ListEgress(context.Background(), &livekit.ListEgressRequest{EgressId: id})
		if err == nil && len(res.Items) == 1 {
			last = res.Items[0]
			if ok(last) {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("egress %s: %v (%v)", id, last, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
