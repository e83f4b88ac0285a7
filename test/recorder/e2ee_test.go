package recorder_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/recorder"
)

// An end-to-end encrypted track is not written (the node has no key: the file would be noise): the
// manifest lists it with the reason, and a recording of nothing else fails saying why in words.
func TestEncryptedTrackIsNotRecorded(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) { c.Recorder.Dir = t.TempDir() })
	m := testkit.MakeMedia(t)
	alice := join(t, n, "secret", "alice")
	tr, err := lksdk.NewLocalFileTrack(m.Opus, lksdk.ReaderTrackWithFrameDuration(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := alice.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: "mic", Encryption: livekit.Encryption_GCM})
	if err != nil {
		t.Fatal(err)
	}
	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	eg := startTrackEgress(t, ec, "secret", pub.SID())
	time.Sleep(time.Second) // the recorder looks at the room at least once
	info := stopAndWait(t, ec, eg.EgressId)
	if info.Status != livekit.EgressStatus_EGRESS_FAILED || !strings.Contains(info.Error, "end-to-end encrypted") || len(info.FileResults) != 0 {
		t.Fatalf("recording only an encrypted track: %s %q, %d files; want FAILED saying it is end-to-end encrypted", info.Status, info.Error, len(info.FileResults))
	}
	b, err := os.ReadFile(info.ManifestLocation)
	if err != nil {
		t.Fatal(err)
	}
	var man recorder.Manifest
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	if len(man.Tracks) != 1 || man.Tracks[0].SID != pub.SID() || man.Tracks[0].Error != recorder.ErrEncrypted || man.Tracks[0].File != "" {
		t.Fatalf("manifest tracks: %+v, want the encrypted track listed with its reason and no file", man.Tracks)
	}
}
