package recorder

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// FontFile has the Vietnamese diacritics the tiles' names need (Debian's fonts-dejavu-core).
const FontFile = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

// CompositeParams describes the composite of a recording.
type CompositeParams struct {
	Output string
	// Threads bounds ffmpeg's threads; it runs under nice so that it never starves media.
	Threads int
	Width   int
	Height  int
}

// Composite builds one MP4 (H.264 and AAC) from a finished recording's files: every camera in a
// grid (a screen share first, on the largest tile), every audio track mixed, names on the tiles.
// The composite starts where the first media does.
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
	if len(videos)+len(audios) == 0 {
		return fmt.Errorf("recorder: nothing to compose")
	}
	// A screen share takes the first (stage) tile.
	for i, v := range videos {
		if strings.HasPrefix(v.Source, "SCREEN_SHARE") && i > 0 {
			videos[0], videos[i] = videos[i], videos[0]
			break
		}
	}
	dur := t1.Sub(t0).Seconds()
	args := []string{"-n", "10", "ffmpeg", "-hide_banner", "-loglevel", "error", "-y"}
	var filter []string
	in := 0
	filter = append(filter, fmt.Sprintf("color=c=black:s=%dx%d:r=30:d=%.3f[base0]", p.Width, p.Height, dur))
	cols := int(math.Ceil(math.Sqrt(float64(len(videos)))))
	rows := 1
	if cols > 0 {
		rows = (len(videos) + cols - 1) / cols
	}
	for i, v := range videos {
		args = append(args, "-i", v.File)
		tw, th := p.Width/cols, p.Height/rows
		off := v.Start.Sub(t0).Seconds()
		name := strings.NewReplacer(`\`, `\\`, `'`, `\'`, `:`, `\:`, `%`, `\%`).Replace(v.Participant)
		filter = append(filter, fmt.Sprintf(
			"[%d:v]setpts=PTS-STARTPTS,scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,"+
				"drawtext=fontfile=%s:text='%s':x=8:y=h-th-8:fontsize=%d:fontcolor=white:box=1:boxcolor=black@0.5,"+
				"tpad=start_duration=%.3f[v%d]", in, tw, th, tw, th, FontFile, name, max(14, th/16), off, i))
		filter = append(filter, fmt.Sprintf("[base%d][v%d]overlay=x=%d:y=%d:eof_action=pass[base%d]",
			i, i, (i%cols)*tw, (i/cols)*th, i+1))
		in++
	}
	var mix []string
	for i, a := range audios {
		args = append(args, "-i", a.File)
		ms := a.Start.Sub(t0).Milliseconds()
		filter = append(filter, fmt.Sprintf("[%d:a]aresample=48000,adelay=%d|%d,aformat=channel_layouts=stereo[a%d]", in, ms, ms, i))
		mix = append(mix, fmt.Sprintf("[a%d]", i))
		in++
	}
	outV := fmt.Sprintf("[base%d]", len(videos))
	if len(audios) > 0 {
		filter = append(filter, fmt.Sprintf("%samix=inputs=%d:normalize=0:duration=longest[aout]", strings.Join(mix, ""), len(audios)))
	}
	args = append(args, "-filter_complex", strings.Join(filter, ";"), "-map", outV)
	if len(audios) > 0 {
		args = append(args, "-map", "[aout]", "-c:a", "aac", "-b:a", "128k")
	}
	args = append(args, "-t", fmt.Sprintf("%.3f", dur), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-threads", fmt.Sprint(p.Threads), "-filter_complex_threads", fmt.Sprint(p.Threads),
		"-movflags", "+faststart", p.Output)
	if err := os.MkdirAll(filepath.Dir(p.Output), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "nice", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", err, out)
	}
	return nil
}
