package recorder_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// vframe is one decoded frame of the test video: its presentation time, the mean luma of its
// middle (away from the code strip at the top and a composite's name at the bottom), and the
// frame number read from its code strip (-1 when unreadable).
type vframe struct {
	pts  float64
	luma float64
	idx  int
}

// grid is the size the picture is averaged down to: the code strip (the top eighth) is its first
// grid/8 rows, each bit codeBits-th of a row.
const grid = 40

// videoFrames decodes every frame of the file's first video stream (or of its crop region,
// "w:h:x:y") in presentation order.
func videoFrames(t *testing.T, file, crop string) []vframe {
	t.Helper()
	vf := fmt.Sprintf("scale=%d:%d:flags=area,format=gray,showinfo", grid, grid)
	if crop != "" {
		vf = "crop=" + crop + "," + vf
	}
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "info", "-i", file, "-map", "0:v:0", "-vf", vf,
		"-fps_mode", "passthrough", "-f", "rawvideo", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg frames of %s: %v %s", file, err, stderr.Bytes())
	}
	// showinfo logs "n: N pts: P pts_time:T …" for each frame.
	var times []float64
	for _, line := range strings.Split(stderr.String(), "\n") {
		if i := strings.Index(line, "pts_time:"); i >= 0 && strings.Contains(line, "Parsed_showinfo") {
			if v, err := strconv.ParseFloat(strings.Fields(line[i+len("pts_time:"):])[0], 64); err == nil {
				times = append(times, v)
			}
		}
	}
	n := len(raw) / (grid * grid)
	if n != len(times) || n == 0 {
		t.Fatalf("%s: %d frames and %d times", file, n, len(times))
	}
	out := make([]vframe, n)
	for i := range n {
		img := raw[i*grid*grid : (i+1)*grid*grid]
		var sum float64
		for _, p := range img[grid*grid*3/10 : grid*grid*7/10] {
			sum += float64(p)
		}
		out[i] = vframe{pts: times[i], luma: sum / float64(grid*grid*4/10), idx: frameNumber(img)}
	}
	return out
}

// frameNumber reads the code strip: each bit's block, sampled in its middle on the strip's middle
// row, is white (1) or black (0); anything in between is unreadable.
func frameNumber(img []byte) int {
	row := img[grid*(grid/16) : grid*(grid/16+1)]
	per := grid / codeBits
	n := 0
	for b := range codeBits {
		v := (int(row[b*per+per/2-1]) + int(row[b*per+per/2])) / 2
		switch {
		case v > 160:
			n |= 1 << b
		case v < 80:
		default:
			return -1
		}
	}
	return n
}

// flash is when the picture turned white, and how late the source's frames were by then.
type flash struct {
	at  float64
	lag float64
}

// flashes finds where the picture turns white: the presentation time of each first bright frame.
// A frame's lag is how much later it is shown than its frame number says, relative to the least
// lag seen: Chromium's file capture runs on a timer that, when it falls behind on a loaded machine,
// does not catch up, so its frames (and their flashes) come ever later against its audio.
func flashes(t *testing.T, file, crop string) []flash {
	t.Helper()
	fr := videoFrames(t, file, crop)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, f := range fr {
		lo, hi = min(lo, f.luma), max(hi, f.luma)
	}
	if hi-lo < 100 { // a flash is white on a near-black picture
		t.Errorf("%s (crop %q): luma only from %.0f to %.0f: no flashes", file, crop, lo, hi)
		return nil
	}
	// Frame numbers wrap where the source loops (every 20 s, 600 frames).
	const loop = 600
	delay := make([]float64, len(fr))
	var ds []float64
	wraps, prev := 0, -1
	for i, f := range fr {
		delay[i] = math.NaN()
		if f.idx < 0 {
			continue
		}
		if prev >= 0 && f.idx < prev-loop/2 {
			wraps++
		}
		prev = f.idx
		delay[i] = f.pts - float64(f.idx+wraps*loop)/30
		ds = append(ds, delay[i])
	}
	ref := math.NaN()
	if len(ds) > 0 {
		slices.Sort(ds)
		ref = ds[len(ds)/20] // the least delay, but for a misread frame number
	}
	thr := (lo + hi) / 2
	var on []flash
	for i := 1; i < len(fr); i++ {
		if fr[i].luma >= thr && fr[i-1].luma < thr {
			on = append(on, flash{at: fr[i].pts, lag: delay[i] - ref})
		}
	}
	return on
}

// beeps returns when a tone of hz starts in the file's first audio stream, in seconds of the
// file's timeline. The tone's amplitude is measured by demodulating at hz over a sliding 10 ms
// window (1 kHz and 2 kHz are then orthogonal); a beep starts where the window is half full of it,
// that is where the amplitude first crosses half its peak, less half a window.
func beeps(t *testing.T, file string, hz float64) []float64 {
	t.Helper()
	const rate, win = 48000, 480
	start := firstAudioTime(t, file)
	pcm, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-map", "0:a:0", "-ac", "1", "-ar", strconv.Itoa(rate),
		"-f", "s16le", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg pcm of %s: %v", file, err)
	}
	n := len(pcm) / 2
	amp := make([]float64, n)
	var si, sq float64
	is, qs := make([]float64, n), make([]float64, n)
	for i := range n {
		x := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
		ph := 2 * math.Pi * hz * float64(i) / rate
		is[i], qs[i] = x*math.Cos(ph), x*math.Sin(ph)
		si += is[i]
		sq += qs[i]
		if i >= win {
			si -= is[i-win]
			sq -= qs[i-win]
		}
		amp[i] = 2 * math.Hypot(si, sq) / win
	}
	if n == 0 {
		t.Fatalf("%s: no audio decoded", file)
	}
	peak := slices.Max(amp)
	if peak < 1000 { // the beeps are at half of full scale (16384)
		t.Errorf("%s: the %.0f Hz tone peaks at %.0f: no beeps", file, hz, peak)
		return nil
	}
	var on []float64
	quietSince := 0 // a beep lasts 100 ms: after one, the tone must be gone for 300 ms before the next
	for i := range n {
		switch {
		case amp[i] < peak/4:
			if quietSince < 0 {
				quietSince = i
			}
		case amp[i] >= peak/2 && quietSince >= 0 && (i-quietSince >= rate*3/10 || len(on) == 0):
			on = append(on, start+float64(i-win/2)/rate)
			quietSince = -1
		}
	}
	return on
}

// firstAudioTime is the presentation time of the first audio sample a decoder gives out (after
// any pre-skip or priming it drops).
func firstAudioTime(t *testing.T, file string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	// (-read_intervals would stop at the first frame, but finds none in an Ogg file.)
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.Split(string(out), "\n")[0]), 64)
	if err != nil {
		t.Fatalf("%s: first audio frame time %q", file, out)
	}
	return v
}

// syncStats pairs each flash with the nearest beep (within half a second: beyond that it has
// none, at the recording's edges) and returns the offsets (flash minus beep: positive when the
// picture is late), their median and largest magnitude.
func syncStats(flashes, beeps []float64) (offsets []float64, median, worst float64) {
	for _, f := range flashes {
		best := math.Inf(1)
		for _, b := range beeps {
			if d := f - b; math.Abs(d) < math.Abs(best) {
				best = d
			}
		}
		if math.Abs(best) >= 0.5 {
			continue
		}
		offsets = append(offsets, best)
		worst = max(worst, math.Abs(best))
	}
	if len(offsets) == 0 {
		return nil, math.NaN(), math.NaN()
	}
	s := slices.Clone(offsets)
	slices.Sort(s)
	return offsets, s[len(s)/2], worst
}

// within counts the offsets no further than limit seconds from zero.
func within(offsets []float64, limit float64) int {
	n := 0
	for _, o := range offsets {
		if math.Abs(o) <= limit {
			n++
		}
	}
	return n
}

// The analysis reads a lagging camera: a clip whose frames from the 50th on are shown 75 ms later
// than their number says (as Chromium's file camera does when its timer falls behind) has its
// later flashes found 75 ms late, with that lag measured from the frame numbers.
func TestFlashesMeasureLag(t *testing.T) {
	dir := t.TempDir()
	src, lagged := dir+"/src.webm", dir+"/lagged.webm"
	ffmpeg(t, "-f", "lavfi", "-i", testVideo(320, 180, 4), "-c:v", "libvpx", "-b:v", "300k", "-g", "300", src)
	ffmpeg(t, "-i", src, "-c", "copy", "-bsf:v", "setts=ts='if(gte(N\\,50)\\,PTS+75\\,PTS)'", lagged)
	fl := flashes(t, lagged, "")
	if len(fl) != 3 { // the first frame's flash has no dark frame before it
		t.Fatalf("flashes %+v, want 3", fl)
	}
	for i, f := range fl {
		wantAt, wantLag := float64(i+1), 0.0
		if i+1 >= 2 {
			wantAt, wantLag = float64(i+1)+0.075, 0.075
		}
		if math.Abs(f.at-wantAt) > 0.002 || math.Abs(f.lag-wantLag) > 0.002 {
			t.Errorf("flash %d at %.3f s lag %.3f s, want %.3f s lag %.3f s", i, f.at, f.lag, wantAt, wantLag)
		}
	}
}
