package recorder_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/recorder"
)

// A node started again lists the recordings it made before it stopped, with their files; and a
// recording still running when it stopped is finished at its next start from what was recorded,
// not lost as a failure.
func TestRecordingsOutliveTheNode(t *testing.T) {
	dir := t.TempDir()
	clips := t.TempDir()
	mic := filepath.Join(clips, "mic.ogg")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=30", "-c:a", "libopus", "-b:a", "48k",
		"-frame_duration", "20", "-page_duration", "20000", mic)
	withDir := func(c *config.Config) { c.Recorder.Dir = dir }
	n := testkit.StartNode(t, withDir)
	ctx := context.Background()
	const room = "restart"
	an := join(t, n, room, "an")
	publish(t, an, mic, 20*time.Millisecond, "mic", 0, 0)
	rs := lksdk.NewRoomServiceClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	waitNodeTracks(ctx, t, rs, room, 1)
	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	record := func() string {
		eg, err := ec.StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: room, AudioOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		waitFrames(t, filepath.Join(dir, eg.EgressId, "manifest.json"))
		return eg.EgressId
	}
	done := record()
	time.Sleep(2 * time.Second) // recorded
	finished := stopAndWait(t, ec, done)
	if finished.Status != livekit.EgressStatus_EGRESS_COMPLETE {
		t.Fatalf("first recording: %v", finished)
	}
	cut := record()
	time.Sleep(3 * time.Second) // recorded
	stopped := time.Now()
	an.Disconnect()
	n.Stop()

	n2 := testkit.StartNode(t, withDir)
	ec2 := lksdk.NewEgressClient(n2.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	res, err := ec2.ListEgress(ctx, &livekit.ListEgressRequest{EgressId: done})
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("the finished recording after a restart: %v (%v)", res.GetItems(), err)
	}
	again := res.Items[0]
	if again.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(again.FileResults) != 1 ||
		again.FileResults[0].Location != finished.FileResults[0].Location || again.EndedAt != finished.EndedAt {
		t.Errorf("listed after a restart as %v, want it as it ended: %v", again, finished)
	}

	// The one cut short is composed at the start, to within a second of the stop.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := ec2.ListEgress(ctx, &livekit.ListEgressRequest{EgressId: cut})
		if err != nil || len(res.Items) != 1 {
			t.Fatalf("the recording cut short, after a restart: %v (%v)", res.GetItems(), err)
		}
		info := res.Items[0]
		if info.Status > livekit.EgressStatus_EGRESS_ENDING {
			if info.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(info.FileResults) != 1 {
				t.Fatalf("the recording cut short ended %s (%s) with %v", info.Status, info.Error, info.FileResults)
			}
			m, err := recorder.ReadManifest(filepath.Join(dir, cut, "manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			want := stopped.Sub(m.Start).Seconds() - 1
			got := testkit.MediaDuration(t, info.FileResults[0].Location)
			t.Logf("cut short after %.2f s of recording; composed at the next start: %.2f s", stopped.Sub(m.Start).Seconds(), got)
			if got < want {
				t.Errorf("the composite lasts %.2f s, want at least %.2f", got, want)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recording cut short was not finished after the restart: %v", info)
		}
		time.Sleep(100 * time.Millisecond) // ListEgress has no event to wait on
	}
}

// waitFrames waits until a recording's manifest shows a track with frames written.
func waitFrames(t *testing.T, manifest string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m, err := recorder.ReadManifest(manifest); err == nil {
			for _, tr := range m.Tracks {
				if tr.Frames > 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no frames written", manifest)
		}
		time.Sleep(100 * time.Millisecond) // the recorder writes its manifest on its own clock
	}
}
