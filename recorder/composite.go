package recorder

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FontFile has the Vietnamese diacritics the tiles' names need (Debian's fonts-dejavu-core).
const FontFile = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

// CardColour fills the stage while someone without a camera speaks.
const CardColour = "0x303134"

func drawtextEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`, `:`, `\:`, `%`, `\%`, `,`, `\,`).Replace(s)
}

// card writes name in the middle of the stage (stageH high) while on holds.
func card(name string, size, stageH int, on string) string {
	return fmt.Sprintf("drawtext=fontfile=%s:text='%s':fontsize=%d:fontcolor=white:x=(w-tw)/2:y=(%d-th)/2:enable='%s'",
		FontFile, drawtextEscape(name), size, stageH, on)
}

// CompositeParams describes the composite of a recording.
type CompositeParams struct {
	Output string
	// Threads bounds ffmpeg's threads; it runs under nice so that it never starves media.
	Threads int
	Width   int
	Height  int
	// Progress, if set, is told the share of the composite written so far (0 to 1), a few times a
	// second, from the goroutine running Composite.
	Progress func(done float64)
	// AudioOnly writes the mixed audio alone (AAC in MP4, an .m4a), without a picture.
	AudioOnly bool
}

// Composite builds one MP4 (H.264 and AAC) from a finished recording's files: the stage (the top
// three quarters) shows a screen share while there is one, else whoever spoke last; a strip below
// shows every camera; every audio track is mixed; names are written on the tiles (AudioOnly: the
// mix alone). It starts where the first media does, less leading silence when the recording has
// speaking data.
func Composite(ctx context.Context, m Manifest, p CompositeParams) error {
	if p.Threads <= 0 {
		p.Threads = 2
	}
	if p.Width == 0 {
		p.Width, p.Height = 1280, 720
	}
	var videos, audios []*ManifestTrack
	var t0, t1 time.Time
	for _, t := range m.Tracks {
		if t.File == "" || t.Frames == 0 {
			continue
		}
		if _, err := os.Stat(t.File); err != nil {
			continue
		}
		if t0.IsZero() || t.Start.Before(t0) {
			t0 = t.Start
		}
		if t.End.After(t1) {
			t1 = t.End
		}
		if strings.HasPrefix(t.Codec, "video/") {
			videos = append(videos, t)
		} else {
			audios = append(audios, t)
		}
	}
	if p.AudioOnly {
		videos = nil
	}
	if len(videos)+len(audios) == 0 {
		return fmt.Errorf("recorder: nothing to compose")
	}
	dur := t1.Sub(t0).Seconds()
	// Leading silence: start a second before the first speech, unless a camera shows something
	// earlier.
	lead := 0.0
	var firstTalk time.Time
	for _, a := range audios {
		if len(a.Speaking) > 0 && (firstTalk.IsZero() || a.Speaking[0].Start.Before(firstTalk)) {
			firstTalk = a.Speaking[0].Start
		}
	}
	if !firstTalk.IsZero() {
		lead = max(0, firstTalk.Sub(t0).Seconds()-1)
		for _, v := range videos {
			lead = min(lead, v.Start.Sub(t0).Seconds())
		}
	}
	args := []string{"-n", "10", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y"}
	var filter []string
	picture := ""
	if !p.AudioOnly {
		var inputs []string
		inputs, filter, picture = stageGraph(m, videos, audios, t0, dur, p)
		args = append(args, inputs...)
	}
	var mix []string
	for i, a := range audios {
		args = append(args, "-i", a.File)
		ms := a.Start.Sub(t0).Milliseconds()
		filter = append(filter, fmt.Sprintf("[%d:a]aresample=48000,adelay=%d|%d,aformat=channel_layouts=stereo[a%d]", len(videos)+i, ms, ms, i))
		mix = append(mix, fmt.Sprintf("[a%d]", i))
	}
	if len(audios) > 0 {
		filter = append(filter, fmt.Sprintf("%samix=inputs=%d:normalize=0:duration=longest[aout]", strings.Join(mix, ""), len(audios)))
	}
	args = append(args, "-filter_complex", strings.Join(filter, ";"))
	if picture != "" {
		args = append(args, "-map", picture, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")
	}
	if len(audios) > 0 {
		args = append(args, "-map", "[aout]", "-c:a", "aac", "-b:a", "128k")
	}
	if lead > 0 {
		args = append(args, "-ss", fmt.Sprintf("%.3f", lead))
	}
	if p.Progress != nil {
		args = append(args, "-progress", "pipe:1", "-nostats")
	}
	args = append(args, "-t", fmt.Sprintf("%.3f", dur-lead),
		"-threads", fmt.Sprint(p.Threads), "-filter_complex_threads", fmt.Sprint(p.Threads),
		"-movflags", "+faststart", p.Output)
	if err := os.MkdirAll(filepath.Dir(p.Output), 0o750); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "nice", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if p.Progress == nil {
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("ffmpeg: %w: %s", err, stderr.Bytes())
		}
		return nil
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ffmpeg: %w", err)
	}
	readProgress(stdout, dur-lead, p.Progress)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", err, stderr.Bytes())
	}
	return nil
}

// readProgress reads ffmpeg's -progress lines until they end and reports the share of total
// (seconds) written: out_time_us is how far the output has got.
func readProgress(r io.Reader, total float64, report func(float64)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "out_time_us=")
		if !ok || total <= 0 {
			continue
		}
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil || us < 0 {
			continue // "N/A" before the first frame
		}
		report(min(float64(us)/1e6/total, 1))
	}
}

// stageGraph is the composite's picture: its inputs (the videos, numbered from 0) and the filters
// that lay them out, ending in the label it returns.
func stageGraph(m Manifest, videos, audios []*ManifestTrack, t0 time.Time, dur float64, p CompositeParams) (inputs, filter []string, out string) {
	stageH := p.Height * 3 / 4
	stripH := p.Height - stageH
	// One strip tile per participant's camera (or share): a camera published again (a rejoin,
	// a segment recorded on another node) takes the tile it had.
	slots := map[string]int{}
	slotOf := make([]int, len(videos))
	for i, v := range videos {
		k := v.Participant + "\x00" + v.Source
		n, ok := slots[k]
		if !ok {
			n = len(slots)
			slots[k] = n
		}
		slotOf[i] = n
	}
	tileW := p.Width / max(4, len(slots))
	tileH := min(stripH, tileW*9/16)
	segs := stageSegments(videos, audios, t0, dur)

	filter = append(filter, fmt.Sprintf("color=c=black:s=%dx%d:r=30:d=%.3f[base0]", p.Width, p.Height, dur))
	fit := func(w, h int) string {
		return fmt.Sprintf("scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2", w, h, w, h)
	}
	label := func(name string, size int) string {
		return fmt.Sprintf("drawtext=fontfile=%s:text='%s':x=8:y=h-th-8:fontsize=%d:fontcolor=white:box=1:boxcolor=black@0.5",
			FontFile, drawtextEscape(name), size)
	}
	// People are named as they named themselves when they joined; their identity otherwise.
	nameOf := func(identity string) string {
		if p, ok := m.Participants[identity]; ok && p.Name != "" {
			return p.Name
		}
		return identity
	}
	base := 0
	for i, v := range videos {
		inputs = append(inputs, "-i", v.File)
		off := v.Start.Sub(t0).Seconds()
		var on []string
		for _, sg := range segs {
			if sg.stage == i {
				on = append(on, fmt.Sprintf("between(t,%.3f,%.3f)", sg.from, sg.to))
			}
		}
		filter = append(filter, fmt.Sprintf("[%d:v]setpts=PTS-STARTPTS,fps=30,tpad=start_duration=%.3f,split=2[big%d][small%d]", i, off, i, i))
		if len(on) > 0 {
			filter = append(filter, fmt.Sprintf("[big%d]%s,%s[stage%d]", i, fit(p.Width, stageH), label(nameOf(v.Participant), max(18, stageH/20)), i))
			filter = append(filter, fmt.Sprintf("[base%d][stage%d]overlay=x=0:y=0:eof_action=pass:enable='%s'[base%d]",
				base, i, strings.Join(on, "+"), base+1))
			base++
		} else {
			filter = append(filter, fmt.Sprintf("[big%d]nullsink", i))
		}
		filter = append(filter, fmt.Sprintf("[small%d]%s,%s[tile%d]", i, fit(tileW, tileH), label(nameOf(v.Participant), max(12, tileH/10)), i))
	}
	// Someone without a camera who speaks has the stage as a card with their name.
	cards := map[string][]string{}
	var speakers []string
	for _, sg := range segs {
		if sg.speaker == "" {
			continue
		}
		if cards[sg.speaker] == nil {
			speakers = append(speakers, sg.speaker)
		}
		cards[sg.speaker] = append(cards[sg.speaker], fmt.Sprintf("between(t,%.3f,%.3f)", sg.from, sg.to))
	}
	for _, who := range speakers {
		on := strings.Join(cards[who], "+")
		filter = append(filter, fmt.Sprintf("[base%d]drawbox=x=0:y=0:w=%d:h=%d:color=%s:t=fill:enable='%s',%s[base%d]",
			base, p.Width, stageH, CardColour, on, card(nameOf(who), max(24, stageH/12), stageH, on), base+1))
		base++
	}
	// Tiles sharing a slot are laid latest first: an earlier one, on top, gives way when it ends
	// (eof_action=pass) to the later one under it, black until it starts.
	order := make([]int, len(videos))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return videos[order[a]].Start.After(videos[order[b]].Start) })
	for _, i := range order {
		filter = append(filter, fmt.Sprintf("[base%d][tile%d]overlay=x=%d:y=%d:eof_action=pass[base%d]",
			base, i, slotOf[i]*tileW, stageH+(stripH-tileH)/2, base+1))
		base++
	}
	return inputs, filter, fmt.Sprintf("[base%d]", base)
}
