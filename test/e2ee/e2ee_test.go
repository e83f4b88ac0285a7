// Package e2ee_test checks livekit-client's end-to-end encryption through a Hop node: the SFU
// forwards frames it cannot read, and only participants with the key see the pictures.
package e2ee_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hop-meet/hop/internal/testkit"
	"github.com/hop-meet/hop/test/browser"
)

// Two participants sharing the key see and hear each other; a third, in the same room with E2EE
// on but another key, and a fourth without E2EE receive their video but decode no frame of it.
func TestE2EEOnlyKeyHoldersSeePictures(t *testing.T) {
	n := testkit.StartNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const room = "e2ee"
	key := "a passphrase shared out of band"
	res, err := browser.Run(ctx, browser.Spec{
		URL: n.URL(),
		Participants: []browser.Participant{
			{Identity: "an", Token: n.Token(t, room, "an"), E2EEKey: key},
			{Identity: "binh", Token: n.Token(t, room, "binh"), E2EEKey: key},
			{Identity: "chi", Token: n.Token(t, room, "chi"), E2EEKey: "not the meeting's key", SubscribeOnly: true},
			{Identity: "dung", Token: n.Token(t, room, "dung"), SubscribeOnly: true},
			// ela has the key and shows small tiles: the node forwards her a lower simulcast layer,
			// started at a keyframe it must recognize in the encrypted stream.
			{Identity: "ela", Token: n.Token(t, room, "ela"), E2EEKey: key, SubscribeOnly: true, AdaptiveStream: true, TileWidth: 160, TileHeight: 90},
		},
		ExpectWidth:  640,
		ExpectHeight: 360,
		// chi never decodes: the run waits this long for her, then samples.
		DurationMs: 12000,
	})
	if res == nil {
		t.Fatalf("run: %v", err)
	}
	if err != nil {
		// A participant that cannot decrypt is reported by the harness as not seeing video;
		// the checks below tell which.
		t.Logf("run: %v", err)
	}
	for _, pair := range [][2]string{{"an", "binh"}, {"binh", "an"}} {
		p := res.Participant(pair[0])
		if p == nil || !p.Connected {
			t.Fatalf("%s did not connect", pair[0])
		}
		r := p.Remote(pair[1])
		if r == nil {
			t.Fatalf("%s has no report of %s", pair[0], pair[1])
		}
		t.Logf("%s from %s: video %dx%d, frames decoded %v, audio energy %v", pair[0], pair[1], r.Video.Width, r.Video.Height, r.Video.FramesDecoded, r.Audio.TotalAudioEnergy)
		if !r.Video.Advancing() || r.Video.Width == 0 {
			t.Errorf("%s does not see %s: %+v", pair[0], pair[1], r.Video)
		}
		if r.Audio.TotalAudioEnergy[1] <= r.Audio.TotalAudioEnergy[0] {
			t.Errorf("%s does not hear %s: %+v", pair[0], pair[1], r.Audio)
		}
	}
	if e := res.Participant("ela"); e == nil || !e.Connected {
		t.Fatal("ela did not connect")
	} else {
		for _, from := range []string{"an", "binh"} {
			r := e.Remote(from)
			if r == nil {
				t.Fatalf("ela has no report of %s", from)
			}
			t.Logf("ela (small tiles) from %s: %dx%d, frames decoded %v", from, r.Video.Width, r.Video.Height, r.Video.FramesDecoded)
			if !r.Video.Advancing() || r.Video.Height == 0 || r.Video.Height >= 360 {
				t.Errorf("ela does not decode a lower layer of %s's video: %+v", from, r.Video)
			}
		}
	}
	// chi has E2EE on with another key; dung has no E2EE at all.
	for _, id := range []string{"chi", "dung"} {
		c := res.Participant(id)
		if c == nil || !c.Connected {
			t.Fatalf("%s did not connect", id)
		}
		for _, from := range []string{"an", "binh"} {
			r := c.Remote(from)
			if r == nil || !r.VideoSubscribed {
				t.Fatalf("%s is not subscribed to %s's video: %+v", id, from, r)
			}
			t.Logf("%s from %s: %d video packets, frames decoded %v", id, from, r.Video.PacketsReceived, r.Video.FramesDecoded)
			if r.Video.PacketsReceived == 0 {
				t.Errorf("%s received no video packets from %s", id, from)
			}
			// The VP8 payload header travels in clear, so now and then the decoder takes encrypted
			// noise for a frame (seen: 1 to 3 of ~270); a picture is frames one after another
			// (the key holders decode ~20 a second), which never happens without the key.
			if f := r.Video.FramesDecoded; f[1] > 5 || f[1]-f[0] > 2 {
				t.Errorf("%s, without the key, decoded %v frames of %s's video", id, f, from)
			}
		}
	}
	c := res.Participant("chi")
	var decryptErrors int
	for _, e := range c.Events {
		if e.Kind == "encryptionError" {
			decryptErrors++
		}
	}
	t.Logf("chi's encryption errors: %d; her errors: %s", decryptErrors, strings.Join(c.Errors, "; "))
}
