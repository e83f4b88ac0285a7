package sfu

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/hop-meet/hop/sfu/forwarder"
)

func TestCacheSizeFollowsLayerRate(t *testing.T) {
	for _, c := range []struct {
		kind  webrtc.RTPCodecType
		rid   string
		layer int8
		want  int
	}{
		{webrtc.RTPCodecTypeVideo, "", 0, videoCacheSize}, // one layer: it may be the 720p one
		{webrtc.RTPCodecTypeVideo, "f", 2, videoCacheSize},
		{webrtc.RTPCodecTypeVideo, "h", 1, lowerLayerCacheSize},
		{webrtc.RTPCodecTypeVideo, "q", 0, lowerLayerCacheSize},
		{webrtc.RTPCodecTypeAudio, "", 0, audioCacheSize},
	} {
		got := cacheSize(c.kind, c.rid, c.layer)
		if got != c.want {
			t.Errorf("%s rid %q layer %d: %d slots, want %d", c.kind, c.rid, c.layer, got, c.want)
		}
		// A queued packet's slot must not be reused before a writer gets to it.
		if got < 2*forwarder.QueueSize {
			t.Errorf("%s rid %q: %d slots is under twice the forwarder queue (%d)", c.kind, c.rid, got, forwarder.QueueSize)
		}
	}
	// A top layer's cache still answers NACKs over a long round trip: 1.5 s of 720p at 2.5 Mbit/s
	// in 1200-byte packets.
	if pps := 2.5e6 / 8 / 1200; float64(videoCacheSize) < 1.5*pps {
		t.Errorf("top layer: %d slots hold under 1.5 s of 720p (%.0f packets a second)", videoCacheSize, pps)
	}
}
