// Package signal_test drives Hop's signalling with a raw websocket client, to send what no SDK would:
// malformed, oversized and out-of-order messages, bad tokens, clients that vanish.
package signal_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/internal/testkit"
)

// rawClient is a hand-driven signalling connection.
type rawClient struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan *livekit.SignalResponse
	// closed receives the close error (with code and reason) when the server closes.
	closed chan error
}

// dialRaw connects; setup, if given, adjusts the connection before its reader starts.
func dialRaw(t *testing.T, n *testkit.Node, token string, setup ...func(*websocket.Conn)) *rawClient {
	t.Helper()
	u := n.URL() + "/rtc?auto_subscribe=1&protocol=17&sdk=go&access_token=" + url.QueryEscape(token)
	conn, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		body := ""
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
		}
		t.Fatalf("dial: %v %s", err, body)
	}
	for _, f := range setup {
		f(conn)
	}
	c := &rawClient{t: t, conn: conn, msgs: make(chan *livekit.SignalResponse, 256), closed: make(chan error, 1)}
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				c.closed <- err
				close(c.msgs)
				return
			}
			var m livekit.SignalResponse
			if err := proto.Unmarshal(b, &m); err != nil {
				c.closed <- err
				close(c.msgs)
				return
			}
			c.msgs <- &m
		}
	}()
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

// next returns the next message matching want, failing after timeout.
func (c *rawClient) next(timeout time.Duration, want func(*livekit.SignalResponse) bool) *livekit.SignalResponse {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				c.t.Fatalf("connection closed while waiting: %v", <-c.closed)
			}
			if want(m) {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no matching message within %v", timeout)
		}
	}
}

func (c *rawClient) join() *livekit.JoinResponse {
	c.t.Helper()
	m := c.next(5*time.Second, func(m *livekit.SignalResponse) bool { return m.GetJoin() != nil })
	return m.GetJoin()
}

func (c *rawClient) send(req *livekit.SignalRequest) {
	c.t.Helper()
	if err := c.trySend(req); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// trySend sends a request and returns the write's error.
func (c *rawClient) trySend(req *livekit.SignalRequest) error {
	b, err := proto.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.conn.WriteMessage(websocket.BinaryMessage, b)
}

// ping checks the session is alive: a ping_req gets a pong_resp echoing its timestamp.
func (c *rawClient) ping(ts int64) {
	c.t.Helper()
	c.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_PingReq{PingReq: &livekit.Ping{Timestamp: ts}}})
	c.next(5*time.Second, func(m *livekit.SignalResponse) bool { return m.GetPongResp().GetLastPingTimestamp() == ts })
}

// waitClose waits for the server to close the websocket and returns the close error.
func (c *rawClient) waitClose(timeout time.Duration) (leave *livekit.LeaveRequest, err error) {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return leave, <-c.closed
			}
			if l := m.GetLeave(); l != nil {
				leave = l
			}
		case <-deadline:
			c.t.Fatalf("server did not close the connection within %v", timeout)
		}
	}
}

// httpGet returns status and the decoded JSON reason of a GET.
func httpGet(t *testing.T, u string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(b, &body); err != nil && resp.StatusCode >= 400 {
		t.Fatalf("status %d: body is not JSON: %q", resp.StatusCode, b)
	}
	if resp.StatusCode < 400 {
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	return resp.StatusCode, body.Reason
}
