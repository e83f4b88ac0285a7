package signal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"

	"github.com/hop-meet/hop/internal/testkit"
)

const (
	hugeBody = 512 << 20
	// readBound is more than loopback's socket buffers and net/http's own discard can take in
	// without the handler reading: a server that reads bodies it should refuse goes past it.
	readBound = 32 << 20
	// giveUpAt stops the client's body early when the server keeps reading, so that a failing
	// run does not make the node buffer half a gigabyte.
	giveUpAt = 2 * readBound
)

// zeros is a request body of n zero bytes made as it is read, counting what the client sent.
type zeros struct {
	left int64
	sent atomic.Int64
}

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	if z.sent.Load() >= giveUpAt {
		return 0, fmt.Errorf("the server read %d bytes without answering", z.sent.Load())
	}
	n := int64(len(p))
	if n > z.left {
		n = z.left
	}
	clear(p[:n])
	z.left -= n
	z.sent.Add(n)
	return int(n), nil
}

// postHuge POSTs a huge body (chunked, or with its length declared) and returns the response's
// status, its Twirp error code, and how much of the body the client had sent when it came.
func postHuge(t *testing.T, url, token string, declare bool) (status int, code string, sent int64) {
	t.Helper()
	body := &zeros{left: hugeBody}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if declare {
		req.ContentLength = hugeBody
	}
	req.Header.Set("Content-Type", "application/protobuf")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	sent = body.sent.Load()
	if err != nil {
		t.Fatalf("POST %s: %v (client sent %d bytes)", url, err, sent)
	}
	defer resp.Body.Close()
	var te struct{ Code string }
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&te)
	return resp.StatusCode, te.Code, sent
}

// The RoomService answers a request it will refuse without reading its body: a client without
// a valid token, or asking for no RoomService method, cannot make the node hold what it sends.
func TestRoomServiceRefusesWithoutReadingTheBody(t *testing.T) {
	n := testkit.StartNode(t, nil)
	listRooms := n.HTTPURL + "/twirp/livekit.RoomService/ListRooms"
	wrongKey := token(t, "otherkey", "othersecretothersecret", time.Hour, &lkauth.VideoGrant{RoomList: true}, "admin")
	for _, c := range []struct {
		name, url, token string
		status           int
		code             string
	}{
		{"no token", listRooms, "", http.StatusUnauthorized, "unauthenticated"},
		{"bad token", listRooms, wrongKey, http.StatusUnauthorized, "unauthenticated"},
		{"unknown method", n.HTTPURL + "/twirp/livekit.RoomService/Nope", n.TokenWith(t, "", "admin", func(g *lkauth.VideoGrant) { g.RoomList = true }), http.StatusNotFound, "bad_route"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, code, sent := postHuge(t, c.url, c.token, false)
			t.Logf("answered %d %s after the client sent %d bytes", status, code, sent)
			if status != c.status || code != c.code {
				t.Errorf("got %d %q, want %d %q", status, code, c.status, c.code)
			}
			if sent > readBound {
				t.Errorf("the client sent %d bytes before the answer, want at most %d", sent, readBound)
			}
		})
	}
}

// An authenticated request's body is bounded too: past the limit the request is refused as
// malformed, whether the body declares its length or not.
func TestRoomServiceBoundsTheBody(t *testing.T) {
	n := testkit.StartNode(t, nil)
	admin := n.TokenWith(t, "", "admin", func(g *lkauth.VideoGrant) { g.RoomList = true })
	for _, declare := range []bool{false, true} {
		t.Run(fmt.Sprintf("declared length %v", declare), func(t *testing.T) {
			status, code, sent := postHuge(t, n.HTTPURL+"/twirp/livekit.RoomService/ListRooms", admin, declare)
			t.Logf("answered %d %s after the client sent %d bytes", status, code, sent)
			if code != "malformed" || (status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge) {
				t.Errorf("got %d %q, want a malformed error (400 or 413)", status, code)
			}
			if sent > readBound {
				t.Errorf("the client sent %d bytes before the answer, want at most %d", sent, readBound)
			}
		})
	}
	// A request within the limit still works.
	req, _ := http.NewRequest(http.MethodPost, n.HTTPURL+"/twirp/livekit.RoomService/ListRooms", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ListRooms: %d", resp.StatusCode)
	}
}
