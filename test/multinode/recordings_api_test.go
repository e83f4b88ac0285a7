package multinode

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"

	"github.com/hop-meet/hop/internal/config"
)

// A meeting's hosts manage its recordings through any node, each node with its own recordings
// directory: a recording made and finished on the room's node is listed by another node, its file
// downloads through it (proxied from the room's node, ranges too), a third node deletes it there,
// and it is gone everywhere. While it runs it cannot be deleted; a participant without roomAdmin
// and a request without a token are refused by the node they reach.
func TestRecordingsAPIOnAnyNode(t *testing.T) {
	r := startRedis(t)
	nodes := startCluster(t, r, 3, func(c *config.Config) { c.Recorder.Dir = t.TempDir() })
	ctx := context.Background()
	m := startMeeting(t, r, nodes, "hall")
	host, a, b := m.host, m.a, m.b

	hostDir := nodes[host].Config.Recorder.Dir
	info, err := egressClientOf(nodes[host]).StartRoomCompositeEgress(ctx, &livekit.RoomCompositeEgressRequest{RoomName: "hall", AudioOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	id := info.EgressId
	waitSegment(t, filepath.Join(hostDir, id, "manifest.json"), 2)

	tok := func(admin bool) string {
		s, err := lkauth.NewAccessToken(config.DevAPIKey, config.DevAPISecret).SetIdentity("someone").SetValidFor(time.Hour).
			SetVideoGrant(&lkauth.VideoGrant{RoomJoin: true, Room: "hall", RoomAdmin: admin}).ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hostTok, participant := tok(true), tok(false)
	call := func(node int, method, path, token string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, nodes[node].HTTPURL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	rec := "/api/rooms/hall/recordings/" + id

	if code, body := call(a, http.MethodDelete, rec, hostTok); code != http.StatusConflict || !strings.Contains(body, "recording_in_progress") {
		t.Fatalf("deleting a recording in progress through another node: %d %s, want 409", code, body)
	}
	time.Sleep(2 * time.Second) // two seconds of the meeting, recorded
	if _, err := egressClientOf(nodes[host]).StopEgress(ctx, &livekit.StopEgressRequest{EgressId: id}); err != nil {
		t.Fatal(err)
	}
	done := waitEgress(t, egressClientOf(nodes[host]), id, func(i *livekit.EgressInfo) bool {
		return i.Status >= livekit.EgressStatus_EGRESS_COMPLETE
	})
	if done.Status != livekit.EgressStatus_EGRESS_COMPLETE || len(done.FileResults) != 1 {
		t.Fatalf("egress ended %s (%s) with %v", done.Status, done.Error, done.FileResults)
	}
	file := done.FileResults[0]
	if !strings.HasPrefix(file.Location, hostDir+string(filepath.Separator)) {
		t.Fatalf("the composite %s is not under the room's node's directory %s", file.Location, hostDir)
	}
	want, err := os.ReadFile(file.Location)
	if err != nil || len(want) < 100 {
		t.Fatalf("the composite on the room's node: %d bytes, %v", len(want), err)
	}
	download := rec + "/files/" + file.Filename

	for _, c := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {participant, http.StatusForbidden}} {
		for _, q := range [][2]string{{http.MethodGet, "/api/rooms/hall/recordings"}, {http.MethodGet, download}, {http.MethodDelete, rec}} {
			if code, body := call(a, q[0], q[1], c.token); code != c.want {
				t.Errorf("%s %s with token %.12q through another node: %d %s, want %d", q[0], q[1], c.token, code, body, c.want)
			}
		}
	}
	if code, body := call(a, http.MethodGet, "/api/rooms/hall/recordings", hostTok); code != http.StatusOK || !strings.Contains(body, id) {
		t.Fatalf("the host's list through another node: %d %s", code, body)
	}
	if code, body := call(a, http.MethodGet, download, hostTok); code != http.StatusOK || body != string(want) {
		t.Fatalf("the host's download through another node: %d, %d bytes, want the file's %d", code, len(body), len(want))
	}
	if code, body := call(b, http.MethodGet, download, hostTok, "Range", "bytes=10-19"); code != http.StatusPartialContent || body != string(want[10:20]) {
		t.Fatalf("a range of the file through another node: %d %q, want 206 %q", code, body, want[10:20])
	}
	if code, body := call(a, http.MethodGet, rec+"/files/other.mp4", hostTok); code != http.StatusNotFound {
		t.Fatalf("a file the recording does not have: %d %s, want 404", code, body)
	}

	if code, body := call(b, http.MethodDelete, rec, hostTok); code != http.StatusNoContent {
		t.Fatalf("the host's delete through another node: %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(hostDir, id)); !os.IsNotExist(err) {
		t.Fatalf("the deleted recording's directory is still on the room's node: %v", err)
	}
	if code, body := call(a, http.MethodGet, "/api/rooms/hall/recordings", hostTok); code != http.StatusOK || strings.Contains(body, id) {
		t.Fatalf("the list after the delete: %d %s", code, body)
	}
	for _, n := range []int{a, host} {
		if code, body := call(n, http.MethodGet, download, hostTok); code != http.StatusNotFound {
			t.Errorf("download after the delete on node %d: %d %s, want 404", n, code, body)
		}
		if code, body := call(n, http.MethodDelete, rec, hostTok); code != http.StatusNotFound {
			t.Errorf("delete after the delete on node %d: %d %s, want 404", n, code, body)
		}
	}
}
