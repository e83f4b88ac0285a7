package network_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/config"
	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/test/browser"
)

// TestICETCPWhenUDPIsBlocked: a subscriber on a network that lets no UDP through (as some
// corporate firewalls) still gets the meeting, over ICE-TCP to the node's TCP port, with the
// node's own SRTP sender writing to the TCP connection.
func TestICETCPWhenUDPIsBlocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	nsPub := testkit.NewNetNS(t, 1)
	nsSub := testkit.NewNetNS(t, 2)
	nsSub.BlockUDP()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpPort := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	n := startNamespaceNode(t, func(c *config.Config) { c.RTC.TCPPort = tcpPort })
	t0 := time.Now()
	startBrowser(ctx, t, n, nsPub, "net-tcp", publisher())
	sub := startBrowser(ctx, t, n, nsSub, "net-tcp", browser.Participant{Identity: "sub", SubscribeOnly: true})

	playing := func(tl []browser.Sample) bool {
		_, ok := firstSteady(tl, t0, stable, func(s browser.Sample) bool { _, h := decodedSize(s, pubID); return h > 0 })
		return ok
	}
	if err := sub.waitUntil(ctx, rampTimeout, playing); err != nil {
		t.Fatalf("the subscriber behind the UDP block does not play the publisher's video: %v", err)
	}
	// Audio too: its packets keep arriving.
	tl := sub.timeline()
	if a0, a1 := remoteAudio(tl[0], pubID), remoteAudio(tl[len(tl)-1], pubID); a1 == nil || (a0 != nil && a1.PacketsReceived <= a0.PacketsReceived) {
		t.Errorf("no audio reached the subscriber over TCP")
	}
	if blocked, err := nsSub.BlockedUDP(); err != nil {
		t.Error(err)
	} else {
		// Chromium tried UDP first (its host candidates, the node's UDP candidates): the block
		// was in the way, so what arrived came over TCP.
		t.Logf("UDP packets blocked: %d", blocked)
		if blocked == 0 {
			t.Error("no UDP packet was blocked: the test did not exercise a UDP-less network")
		}
	}
	sn := n.Engine().Stats().Snapshot()
	if sn.DirectPackets < sn.PacketsSent*9/10 {
		t.Errorf("%d of %d forwarded packets were encrypted by the node's own SRTP senders", sn.DirectPackets, sn.PacketsSent)
	}
	// The publisher is on UDP: the node decrypted its media itself (sfu/srtpin), and the TCP
	// subscriber still got it.
	if sn.DirectReceived < sn.PacketsReceived*9/10 {
		t.Errorf("srtpin took %d of the %d RTP packets received", sn.DirectReceived, sn.PacketsReceived)
	}
}
