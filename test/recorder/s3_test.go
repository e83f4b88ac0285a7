package recorder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/recorder"
)

// startVersity runs Versity's S3 gateway over a temporary directory (installed by `make
// test-deps`) and returns its address.
func startVersity(t *testing.T, access, secret string) string {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		out, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("versitygw is not installed (make test-deps installs it): %v", err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--access", access, "--secret", secret, "--port", addr, "posix", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// It has no readiness signal but its port.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Versity's credentials and the bucket the S3 tests use.
const s3Access, s3Secret, s3Bucket = "hopkey", "hopsecret-hopsecret", "recordings"

// startBucket runs an S3 server with an empty bucket and returns its address and a client.
func startBucket(t *testing.T) (string, *minio.Client) {
	t.Helper()
	addr := startVersity(t, s3Access, s3Secret)
	s3c, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(s3Access, s3Secret, ""), Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3c.MakeBucket(context.Background(), s3Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	return addr, s3c
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// A track egress with an S3 store: the file lands in the bucket, ListEgress names it by a signed
// link that downloads it, the link is refused once expired, and a participant's token cannot list.
func TestEgressToS3(t *testing.T) {
	const access, secret, bucket = s3Access, s3Secret, s3Bucket
	addr, s3c := startBucket(t)
	ctx := context.Background()
	dir := t.TempDir()
	n := testkit.StartNode(t, func(c *config.Config) {
		c.Recorder.Dir = dir
		c.Recorder.S3 = config.RecorderS3Config{Endpoint: addr, AccessKey: access, Secret: secret, Bucket: bucket,
			Insecure: true, LinkTTL: 2 * time.Second}
	})
	m := testkit.MakeMedia(t)
	alice := join(t, n, "s3", "alice")
	mic := publish(t, alice, m.Opus, 20*time.Millisecond, "mic", 0, 0)
	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	eg := startTrackEgress(t, ec, "s3", mic.SID())
	time.Sleep(3 * time.Second) // three seconds of audio
	info := stopAndWait(t, ec, eg.EgressId)
	signedAt := time.Now()
	if info.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(info.FileResults) != 1 {
		t.Fatalf("egress: %v", info)
	}
	f := info.FileResults[0]
	local, err := os.ReadFile(filepath.Join(dir, eg.EgressId, f.Filename))
	if err != nil || len(local) == 0 {
		t.Fatalf("local file: %v", err)
	}
	if _, err := s3c.StatObject(ctx, bucket, eg.EgressId+"/"+f.Filename, minio.StatObjectOptions{}); err != nil {
		t.Errorf("the bucket lacks the file: %v", err)
	}
	if !strings.HasPrefix(f.Location, "http://"+addr+"/") {
		t.Fatalf("location %q is not a link to the store", f.Location)
	}
	if status, body := get(t, f.Location); status != http.StatusOK || !bytes.Equal(body, local) {
		t.Errorf("signed link: %d, %d bytes (want 200 and the %d bytes recorded)", status, len(body), len(local))
	}
	if status, _ := get(t, info.ManifestLocation); status != http.StatusOK {
		t.Errorf("manifest link: %d", status)
	}
	// Presigned links count whole seconds: wait past the TTL and a second more.
	time.Sleep(time.Until(signedAt.Add(3*time.Second + 100*time.Millisecond)))
	if status, _ := get(t, f.Location); status != http.StatusForbidden {
		t.Errorf("expired link: %d, want 403", status)
	}
	// A participant (no roomRecord grant) gets no links.
	req, _ := http.NewRequest(http.MethodPost, n.HTTPURL+"/twirp/livekit.Egress/ListEgress", strings.NewReader(`{"room_name":"s3"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+n.TokenWith(t, "s3", "bob", func(*lkauth.VideoGrant) {}))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("participant listing: %d, want 403", resp.StatusCode)
	}
}

// The retention sweep's store side, against a real S3 server: objects written before the cutoff
// go, newer ones stay.
func TestS3DeleteOlder(t *testing.T) {
	const access, secret, bucket = s3Access, s3Secret, s3Bucket
	addr, s3c := startBucket(t)
	ctx := context.Background()
	store, err := recorder.NewS3(recorder.S3Config{Endpoint: addr, AccessKey: access, Secret: secret, Bucket: bucket, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "track.ogg")
	if err := os.WriteFile(f, []byte("media"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"EG_a/track.ogg", "EG_a/manifest.json", "EG_b/track.ogg"} {
		if _, err := store.Put(ctx, key, f); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		for o := range s3c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			n++
		}
		return n
	}
	if n, err := store.DeleteOlder(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("a cutoff before every object deleted %d (%v), want 0", n, err)
	}
	if got := count(); got != 3 {
		t.Fatalf("%d objects after deleting none, want 3", got)
	}
	if n, err := store.DeleteOlder(ctx, time.Now().Add(time.Minute)); err != nil || n != 3 {
		t.Fatalf("a cutoff after every object deleted %d (%v), want 3", n, err)
	}
	if got := count(); got != 0 {
		t.Fatalf("%d objects left, want 0", got)
	}
}

// A recording a previous run left without uploading it (an upload cut short, a node killed while
// recording) is uploaded when the node starts again, and only once.
func TestPendingRecordingUploadedAtStart(t *testing.T) {
	const access, secret, bucket = s3Access, s3Secret, s3Bucket
	addr, s3c := startBucket(t)
	ctx := context.Background()
	dir := t.TempDir()
	left := filepath.Join(dir, "EG_leftbehind")
	if err := os.MkdirAll(left, 0o755); err != nil {
		t.Fatal(err)
	}
	track := filepath.Join(left, "alice-MICROPHONE-TR_a.ogg")
	if err := os.WriteFile(track, []byte("the first seconds of a meeting"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A manifest as a killed recorder leaves it: no end.
	man := recorder.Manifest{ID: "EG_leftbehind", Room: "r", Start: time.Now().Add(-time.Minute),
		Tracks: []*recorder.ManifestTrack{{SID: "TR_a", Participant: "alice", Kind: "AUDIO", TrackResult: recorder.TrackResult{File: track}}}}
	b, _ := json.Marshal(man)
	if err := os.WriteFile(filepath.Join(left, "manifest.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.StartNode(t, func(c *config.Config) {
		c.Recorder.Dir = dir
		c.Recorder.S3 = config.RecorderS3Config{Endpoint: addr, AccessKey: access, Secret: secret, Bucket: bucket, Insecure: true}
	})
	keys := func() []string {
		var out []string
		for o := range s3c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err == nil {
				out = append(out, o.Key)
			}
		}
		sort.Strings(out)
		return out
	}
	want := []string{"EG_leftbehind/alice-MICROPHONE-TR_a.ogg", "EG_leftbehind/manifest.json"}
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Equal(keys(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("bucket holds %v, want %v", keys(), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(left, ".uploaded")); err != nil {
		t.Fatalf("the uploaded recording is not marked, so the next start would upload it again: %v", err)
	}
}
