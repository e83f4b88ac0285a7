package recorder_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// avMedia is test media whose picture and sound can be lined up afterwards: a dark picture with a
// frame counter, all white for the first 100 ms of every second (the flash), and audio silent but
// for a beep during those same 100 ms.
type avMedia struct {
	// Y4M and WAV are for Chromium's fake capture devices (raw, so Chromium encodes them itself).
	Y4M, WAV string
	// H264 (Annex B, baseline, no B-frames, one slice per frame) and Opus (Ogg, 20 ms packets)
	// are for a server-sdk-go publisher.
	H264, Opus string
}

// flashFrames is how many frames (at 30 fps) each flash lasts: 100 ms, like the beep, so that one
// dropped frame does not hide a flash.
const flashFrames = 3

// codeBits is how many bits of the frame number the picture carries (enough for 20 s at 30 fps).
const codeBits = 10

// makeAVMedia encodes avMedia: the raw pair at 640x360 with a beepHz beep for Chromium, the encoded
// pair at w x h with an sdkBeepHz beep for the SDK (two pitches, so the mixed audio of a composite
// still says whose beep is whose). Every file lasts a whole number of seconds, so that a
// publisher looping it keeps a flash and a beep at each whole second.
func makeAVMedia(t *testing.T, seconds, beepHz, sdkBeepHz, w, h int) avMedia {
	t.Helper()
	dir := t.TempDir()
	m := avMedia{Y4M: filepath.Join(dir, "cam.y4m"), WAV: filepath.Join(dir, "mic.wav"),
		H264: filepath.Join(dir, "cam.h264"), Opus: filepath.Join(dir, "mic.ogg")}
	audio := func(hz int) string {
		return fmt.Sprintf("aevalsrc='if(lt(mod(t\\,1)\\,0.1)\\,0.5*sin(2*PI*%d*t)\\,0)':s=48000:d=%d", hz, seconds)
	}
	ffmpeg(t, "-f", "lavfi", "-i", testVideo(640, 360, seconds), "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", m.Y4M)
	ffmpeg(t, "-f", "lavfi", "-i", audio(beepHz), "-c:a", "pcm_s16le", m.WAV)
	// One slice per frame and no B-frames: the publisher sends each frame as one access unit in
	// presentation order. A keyframe every 10 frames lets a recording start within 1/3 s.
	ffmpeg(t, "-f", "lavfi", "-i", testVideo(w, h, seconds), "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
		"-bf", "0", "-g", "10", "-threads", "1", "-x264-params", "sliced-threads=0", "-tune", "zerolatency",
		"-b:v", "400k", "-bsf:v", "h264_mp4toannexb", m.H264)
	ffmpeg(t, "-f", "lavfi", "-i", audio(sdkBeepHz), "-c:a", "libopus", "-b:a", "64k", "-frame_duration", "20",
		"-page_duration", "20000", m.Opus)
	return m
}

// testVideo is the lavfi source of the test picture: a frame counter for a person; for the test,
// the frame number again in binary along the top (codeBits white or black blocks across the top
// eighth, drawn over the flash too).
func testVideo(w, h, seconds int) string {
	v := fmt.Sprintf("color=c=0x101010:s=%dx%d:r=30:d=%d,"+
		"drawtext=fontfile=%s:text='%%{frame_num}':x=16:y=%d:fontsize=%d:fontcolor=0x808080,"+
		"drawbox=c=white:t=fill:enable='lt(mod(n\\,30)\\,%d)',"+
		"drawbox=c=black:t=fill:x=0:y=0:w=iw:h=ih/8",
		w, h, seconds, fontFile, h/4, h/8, flashFrames)
	for b := range codeBits {
		v += fmt.Sprintf(",drawbox=c=white:t=fill:x=%d*iw/%d:y=0:w=iw/%d:h=ih/8:enable='eq(mod(floor(n/%d)\\,2)\\,1)'",
			b, codeBits, codeBits, 1<<b)
	}
	return v
}

const fontFile = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v %s", args, err, out)
	}
}

// publishInSync publishes an H.264 camera and an Opus microphone from m and paces both from one
// clock: frame k at start+k/30 s, packet j at start+j*20 ms, from the moment both tracks are bound.
// (The SDK's file tracks each start on their own bind, so their picture and sound would be apart
// by however long the second negotiation took.) The files loop until ctx ends.
func publishInSync(ctx context.Context, t *testing.T, r *lksdk.Room, m avMedia, w, h int) (cam, mic *lksdk.LocalTrackPublication) {
	t.Helper()
	frames := readAccessUnits(t, m.H264)
	packets := readOpusPackets(t, m.Opus)
	// The encoder adds a packet at the end for its look-ahead; looped, that packet would put the
	// sound 20 ms behind the picture at every turn.
	if n := len(frames) * 50 / 30; len(packets) > n {
		packets = packets[:n]
	}
	vt, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000})
	if err != nil {
		t.Fatal(err)
	}
	at, err := lksdk.NewLocalSampleTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	vBound, aBound := make(chan struct{}), make(chan struct{})
	vt.OnBind(func() { closeOnce(vBound) })
	at.OnBind(func() { closeOnce(aBound) })
	mic, err = r.LocalParticipant.PublishTrack(at, &lksdk.TrackPublicationOptions{Name: "mic"})
	if err != nil {
		t.Fatalf("publish mic: %v", err)
	}
	cam, err = r.LocalParticipant.PublishTrack(vt, &lksdk.TrackPublicationOptions{Name: "cam", VideoWidth: w, VideoHeight: h})
	if err != nil {
		t.Fatalf("publish cam: %v", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		for _, c := range []chan struct{}{vBound, aBound} {
			select {
			case <-c:
			case <-ctx.Done():
				return
			}
		}
		// The SDK truncates a sample's duration to whole RTP ticks: time.Second/30 would make
		// 2999 ticks of 90 kHz, and the camera's clock slow by 6 ms in 20 s.
		const frameDur, packetDur = time.Second/30 + 1, 20 * time.Millisecond
		start := time.Now()
		var k, j int
		for {
			vDue := start.Add(time.Duration(k) * time.Second / 30)
			aDue := start.Add(time.Duration(j) * packetDur)
			due := vDue
			if aDue.Before(vDue) {
				due = aDue
			}
			select {
			case <-time.After(time.Until(due)):
			case <-ctx.Done():
				return
			}
			if !vDue.After(aDue) {
				_ = vt.WriteSample(media.Sample{Data: frames[k%len(frames)], Duration: frameDur}, nil)
				k++
			} else {
				_ = at.WriteSample(media.Sample{Data: packets[j%len(packets)], Duration: packetDur}, nil)
				j++
			}
		}
	}()
	return cam, mic
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// readAccessUnits splits an Annex B file of one slice per frame into frames: parameter sets and
// SEI go with the slice that follows them.
func readAccessUnits(t *testing.T, file string) [][]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := h264reader.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var cur bytes.Buffer
	for {
		nal, err := rd.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		cur.Write([]byte{0, 0, 0, 1})
		cur.Write(nal.Data)
		if nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr {
			out = append(out, bytes.Clone(cur.Bytes()))
			cur.Reset()
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no frames", file)
	}
	return out
}

// readOpusPackets returns the Opus packets of an Ogg file written one packet per page.
func readOpusPackets(t *testing.T, file string) [][]byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, _, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		page, _, err := rd.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(page, []byte("OpusTags")) {
			continue
		}
		out = append(out, page)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no packets", file)
	}
	return out
}
