package signal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	lkauth "github.com/livekit/protocol/auth"

	"github.com/hop-meet/hop/internal/config"
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

// rawHTTP opens a plain TCP connection to the node.
func rawHTTP(t *testing.T, n *testkit.Node) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", n.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// untilClosed reads c to its end in the background; the channel yields the read error (io.EOF
// when the server closed the connection).
func untilClosed(c net.Conn, r *bufio.Reader) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		if err == nil {
			err = io.EOF
		}
		done <- err
	}()
	return done
}

// A keep-alive connection that sends no further request is closed after the idle timeout.
func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) { c.HTTP.IdleTimeout = 300 * time.Millisecond })
	c := rawHTTP(t, n)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: hop\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %d, close %v: want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
	}
	// The guard is far beyond the idle timeout: only a connection left open forever trips it.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := <-untilClosed(c, r); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want the server to close it", err)
	}
}

// A request body trickled a byte at a time is cut off by the read timeout.
func TestTrickledBodyIsCutOff(t *testing.T) {
	n := testkit.StartNode(t, func(c *config.Config) { c.HTTP.ReadTimeout = 500 * time.Millisecond })
	admin := n.TokenWith(t, "", "admin", func(g *lkauth.VideoGrant) { g.RoomList = true })
	c := rawHTTP(t, n)
	const length = 100000
	head := "POST /twirp/livekit.RoomService/ListRooms HTTP/1.1\r\nHost: hop\r\nContent-Type: application/protobuf\r\n" +
		"Authorization: Bearer " + admin + "\r\nContent-Length: " + fmt.Sprint(length) + "\r\n\r\n"
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	closed := untilClosed(c, bufio.NewReader(c))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	guard := time.After(10 * time.Second)
	for sent := 0; ; {
		select {
		case err := <-closed:
			// A server closing with our bytes unread resets the connection: closed all the same.
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("trickling connection ended with %v, want the server to close it", err)
			}
			t.Logf("closed by the server after %d body bytes", sent)
			return
		case <-guard:
			t.Fatalf("the server still reads a body trickled for 10 s (%d of %d bytes)", sent, length)
		case <-tick.C:
			if _, err := c.Write([]byte{0}); err == nil {
				sent++
			}
		}
	}
}

// A signalling websocket is exempt from the HTTP timeouts: long past all of them it still reads
// and writes.
func TestWebsocketOutlivesHTTPTimeouts(t *testing.T) {
	const short = 200 * time.Millisecond
	n := testkit.StartNode(t, func(c *config.Config) {
		c.HTTP = config.HTTPConfig{ReadHeaderTimeout: short, ReadTimeout: short, WriteTimeout: short, IdleTimeout: short}
	})
	c := dialRaw(t, n, n.Token(t, "r", "alice"))
	c.join()
	// Nothing signals that a deadline has passed: wait well past them.
	<-time.After(5 * short)
	c.ping(1)
	<-time.After(5 * short)
	c.ping(2)
}
