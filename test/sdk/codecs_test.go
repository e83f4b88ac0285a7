package sdk_test

import (
	"strings"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/hop-meet/hop/internal/testkit"
)

// Every codec Hop forwards goes through with its own codec: H.264, VP9 and G.711 from one publisher,
// plus a screen share with its audio, each arriving intact at a subscriber.
func TestCodecsAndScreenShare(t *testing.T) {
	n := testkit.StartNode(t, nil)
	m := testkit.MakeMedia(t)
	const want = 90
	sender := connect(t, n, "codecs", "sender", connectOpts{autoSubscribe: true}, want)
	type sub struct {
		name   string
		source livekit.TrackSource
		mime   string
	}
	subs := make(chan sub, 16)
	recv := connect(t, n, "codecs", "recv", connectOpts{autoSubscribe: true,
		onSubscribed: func(p *lksdk.RemoteTrackPublication) {
			subs <- sub{p.Name(), p.Source(), p.TrackRemote().Codec().MimeType}
		}}, want)

	pubs := []struct {
		file   string
		frame  time.Duration
		name   string
		source livekit.TrackSource
		mime   string
	}{
		{m.H264, 33 * time.Millisecond, "h264", livekit.TrackSource_CAMERA, "video/h264"},
		{m.VP9, 33 * time.Millisecond, "vp9", livekit.TrackSource_SCREEN_SHARE, "video/vp9"},
		{m.PCMU, 20 * time.Millisecond, "pcmu", livekit.TrackSource_MICROPHONE, "audio/pcmu"},
		{m.Opus, 20 * time.Millisecond, "screen-audio", livekit.TrackSource_SCREEN_SHARE_AUDIO, "audio/opus"},
	}
	for _, p := range pubs {
		tr, err := lksdk.NewLocalFileTrack(p.file, lksdk.ReaderTrackWithFrameDuration(p.frame))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if _, err := sender.room.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{
			Name: p.name, Source: p.source, VideoWidth: 640, VideoHeight: 360}); err != nil {
			t.Fatalf("publish %s: %v", p.name, err)
		}
	}
	got := map[string]sub{}
	for len(got) < len(pubs) {
		select {
		case s := <-subs:
			got[s.name] = s
		case <-time.After(20 * time.Second):
			t.Fatalf("subscribed to %d of %d tracks: %v", len(got), len(pubs), got)
		}
	}
	for _, p := range pubs {
		s := got[p.name]
		if !strings.EqualFold(s.mime, p.mime) || s.source != p.source {
			t.Errorf("%s: received as %s from %s, want %s from %s", p.name, s.mime, s.source, p.mime, p.source)
		}
		r := recv.waitFor("sender", p.name, 20*time.Second)
		r.mu.Lock()
		if r.gaps != 0 || r.reorders != 0 {
			t.Errorf("%s: %d packets, %d missing, %d out of order", p.name, r.packets, r.gaps, r.reorders)
		}
		r.mu.Unlock()
	}
}
