package recorder_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
)

// A meeting's hosts list its recordings, download their files and delete finished ones; a
// participant, a token for another room and a request without a token are refused, and a
// recording in progress cannot be deleted.
func TestHostsManageTheirRecordings(t *testing.T) {
	dir := t.TempDir()
	n := testkit.StartNode(t, func(c *config.Config) { c.Recorder.Dir = dir })
	m := testkit.MakeMedia(t)
	ctx := context.Background()
	alice := join(t, n, "hall", "alice")
	mic := publish(t, alice, m.Opus, 20*time.Millisecond, "mic", 0, 0)
	ec := lksdk.NewEgressClient(n.HTTPURL, config.DevAPIKey, config.DevAPISecret)
	eg := startTrackEgress(t, ec, "hall", mic.SID())
	token := func(room string, admin bool) string {
		tok, err := lkauth.NewAccessToken(config.DevAPIKey, config.DevAPISecret).SetIdentity("someone").SetValidFor(time.Hour).
			SetVideoGrant(&lkauth.VideoGrant{RoomJoin: true, Room: room, RoomAdmin: admin}).ToJWT()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	host, participant, otherHost := token("hall", true), token("hall", false), token("other", true)
	call := func(method, path, tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, n.HTTPURL+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	rec := "/api/rooms/hall/recordings/" + eg.EgressId

	if code, body := call(http.MethodDelete, rec, host); code != http.StatusConflict {
		t.Fatalf("deleting a recording in progress: %d %s, want 409", code, body)
	}
	time.Sleep(2 * time.Second) // two seconds of audio
	if _, err := ec.StopEgress(ctx, &livekit.StopEgressRequest{EgressId: eg.EgressId}); err != nil {
		t.Fatal(err)
	}
	var file *livekit.FileInfo
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		l, err := ec.ListEgress(ctx, &livekit.ListEgressRequest{EgressId: eg.EgressId})
		if err == nil && len(l.Items) == 1 && l.Items[0].Status == livekit.EgressStatus_EGRESS_COMPLETE {
			file = l.Items[0].FileResults[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recording did not complete: %v %v", l, err)
		}
	}

	for _, c := range []struct {
		tok  string
		want int
	}{{"", http.StatusUnauthorized}, {participant, http.StatusForbidden}, {otherHost, http.StatusForbidden}} {
		if code, _ := call(http.MethodGet, "/api/rooms/hall/recordings", c.tok); code != c.want {
			t.Errorf("list with token %.12q: %d, want %d", c.tok, code, c.want)
		}
		if code, _ := call(http.MethodDelete, rec, c.tok); code != c.want {
			t.Errorf("delete with token %.12q: %d, want %d", c.tok, code, c.want)
		}
	}
	if code, body := call(http.MethodGet, "/api/rooms/hall/recordings", host); code != http.StatusOK || !strings.Contains(body, eg.EgressId) {
		t.Fatalf("the host's list: %d %s", code, body)
	}
	want, err := os.ReadFile(file.Location)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := call(http.MethodGet, rec+"/files/"+file.Filename, host); code != http.StatusOK || body != string(want) {
		t.Fatalf("the host's download: %d, %d bytes, want the file's %d", code, len(body), len(want))
	}
	if code, body := call(http.MethodDelete, rec, host); code != http.StatusNoContent {
		t.Fatalf("the host's delete: %d %s", code, body)
	}
	if _, err := os.Stat(file.Location); !os.IsNotExist(err) {
		t.Fatalf("the deleted recording's file is still there: %v", err)
	}
	if code, body := call(http.MethodGet, "/api/rooms/hall/recordings", host); code != http.StatusOK || strings.Contains(body, eg.EgressId) {
		t.Fatalf("after the delete: %d %s", code, body)
	}
}
