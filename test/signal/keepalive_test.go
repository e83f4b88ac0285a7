package signal_test

import (
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/hop-meet/hop/internal/testkit"
)

// The signalling websocket's own keepalive: two clients that send nothing at all (no protocol
// pings either, like server-sdk-go), one answering the server's websocket pings as every websocket
// stack does, one not (a client gone without closing its TCP connection). The silent one is
// dropped after the idle timeout; the other, quiet just as long, keeps its session.
func TestWebsocketKeepalive(t *testing.T) {
	n := testkit.StartNode(t, nil)
	quiet := dialRaw(t, n, n.Token(t, "r", "quiet"))
	quiet.join()
	gone := dialRaw(t, n, n.Token(t, "r", "gone"), func(c *websocket.Conn) {
		c.SetPingHandler(func(string) error { return nil }) // never answers
	})
	gone.join()
	// The server pings every 5 s and gives up after 20 s without a frame; both checks fall before
	// the 30 s after which a participant that never connected media is removed anyway.
	if _, err := gone.waitClose(35 * time.Second); err == nil {
		t.Fatal("connection ended without an error")
	}
	quiet.ping(1)
}
