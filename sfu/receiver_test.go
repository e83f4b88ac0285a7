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
		{webrtc.RTPCodecTypeVideo, "h", 1, lowLayerCacheSize},
		{webrtc.RTPCodecTypeVideo, "q", 0, lowLayerCacheSize},
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
}
