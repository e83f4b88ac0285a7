package recorder

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/at-wat/ebml-go/mkvcore"
	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// frame is one encoded frame (audio packet or video picture) ready for a container.
type frame struct {
	// pts is the frame's time from the file's start in the codec's clock.
	pts  int64
	ms   int64
	key  bool
	data []byte
}

// container writes frames to one file. Frames come in presentation order.
type container interface {
	write(f *frame) error
	// flush puts what was written on disk.
	flush() error
	close() error
}

// cuesReserve is the space kept at the front of a Matroska file for its seek index; a longer
// recording's index is thinned to fit.
const cuesReserve = 32 << 10

// mkvFile is a WebM (VP8, VP9) or Matroska (H.264) file written by ebml-go. Its clusters have no
// size up front, so a file cut anywhere plays up to its last flushed block.
type mkvFile struct {
	w    webm.BlockWriteCloser
	file *bufferedFile
	// err is the writer's failure, reported from its own goroutine (ebml-go panics by default).
	err atomic.Pointer[error]
	// lastMs is the last block's time, once written.
	lastMs  int64
	written bool
}

func newMKV(path, codecID string, private []byte, width, height int, matroska bool) (*mkvFile, error) {
	f, err := createBuffered(path)
	if err != nil {
		return nil, err
	}
	header := webm.DefaultEBMLHeader
	if matroska {
		h := *header
		h.DocType = "matroska"
		h.DocTypeVersion, h.DocTypeReadVersion = 4, 2
		header = &h
	}
	m := &mkvFile{file: f}
	keep := func(err error) { m.err.CompareAndSwap(nil, &err) }
	ws, err := webm.NewSimpleBlockWriter(f, []webm.TrackEntry{{
		Name: "video", TrackNumber: 1, TrackUID: 1, CodecID: codecID, CodecPrivate: private, TrackType: 1,
		Video: &webm.Video{PixelWidth: uint64(width), PixelHeight: uint64(height)},
	}},
		mkvcore.WithEBMLHeader(header),
		// A segment info of its own: ebml-go writes the duration into the one it is given, and
		// its default is shared by every file.
		mkvcore.WithSegmentInfo(&webm.Info{TimecodeScale: 1000000, MuxingApp: "hop", WritingApp: "hop recorder"}),
		mkvcore.WithBlockInterceptor(nil), // one track, already in order
		mkvcore.WithSeekHead(true),
		mkvcore.WithCues(cuesReserve),
		mkvcore.WithMaxKeyframeInterval(1, 5000),
		mkvcore.WithOnFatalHandler(keep),
		mkvcore.WithOnErrorHandler(keep),
	)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	m.w = ws[0]
	return m, nil
}

func (m *mkvFile) flush() error {
	if err := m.err.Load(); err != nil {
		return *err
	}
	return m.file.Flush()
}

func (m *mkvFile) write(f *frame) error {
	if err := m.err.Load(); err != nil {
		return *err
	}
	// Blocks are timed in milliseconds: two frames less than one apart (a camera catching up on a
	// late capture sends them back to back) would share a timestamp, which demuxers report as
	// non-monotonic. The later one goes a millisecond later.
	ms := f.ms
	if m.written && ms <= m.lastMs {
		ms = m.lastMs + 1
	}
	m.written, m.lastMs = true, ms
	// ebml-go hands the frame to its own goroutine, which marshals it after Write returns.
	data := append([]byte(nil), f.data...)
	_, err := m.w.Write(f.key, ms, data)
	return err
}

func (m *mkvFile) close() error {
	err := m.w.Close()
	if e := m.err.Load(); e != nil && err == nil {
		err = *e
	}
	return err
}

// oggFile is an Ogg Opus file (pion's writer: one page per packet). Ogg
// times a stream by the samples it holds, so a gap in the RTP timestamps (loss, discontinuous
// transmission) is filled with empty Opus frames, which decoders play as silence, to keep the file
// on the wall clock.
type oggFile struct {
	w       *oggwriter.OggWriter
	file    *bufferedFile
	started bool
	nextPTS int64
	toc     byte
}

// opusFill is the duration of one filler frame (20 ms at 48 kHz).
const opusFill = 960

func newOgg(path string) (*oggFile, error) {
	f, err := createBuffered(path)
	if err != nil {
		return nil, err
	}
	w, err := oggwriter.NewWith(f, 48000, 2)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &oggFile{w: w, file: f}, nil
}

func (o *oggFile) flush() error { return o.file.Flush() }

// oggPreSkip is the pre-skip pion's writer puts in the Opus header (RFC 7845's recommended 80 ms,
// not settable): a decoder drops that many samples from the start of the stream.
const oggPreSkip = 3840

func (o *oggFile) write(f *frame) error {
	if len(f.data) == 0 {
		return nil
	}
	if !o.started {
		// The first packet is at the file's time 0, as is every other track's first frame: the
		// pre-skip must drop filler, not the first 80 ms of sound (which would play everything
		// after it 80 ms early against the video).
		o.nextPTS = f.pts - oggPreSkip
		o.toc = f.data[0]
		o.started = true
	}
	for gap := f.pts - o.nextPTS; gap >= opusFill; gap -= opusFill {
		// TOC of a 20 ms CELT frame, code 0, no frame data: "lost" to the decoder.
		filler := []byte{0xF8 | o.toc&0x04}
		if err := o.w.WriteRTP(&rtp.Packet{Payload: filler}); err != nil {
			return err
		}
		o.nextPTS += opusFill
	}
	if err := o.w.WriteRTP(&rtp.Packet{Payload: f.data}); err != nil {
		return err
	}
	o.toc = f.data[0]
	o.nextPTS = f.pts + opusSamples(f.data)
	return nil
}

func (o *oggFile) close() error { return o.w.Close() }

// opusSamples is a packet's duration at 48 kHz from its TOC byte (RFC 6716 §3.1).
func opusSamples(p []byte) int64 {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	cfg := toc >> 3
	var per int64
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		per = [4]int64{480, 960, 1920, 2880}[cfg&3]
	case cfg < 16: // hybrid: 10, 20 ms
		per = [2]int64{480, 960}[cfg&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		per = [4]int64{120, 240, 480, 960}[cfg&3]
	}
	switch toc & 3 {
	case 0:
		return per
	case 1, 2:
		return 2 * per
	default:
		if len(p) < 2 {
			return per
		}
		return per * int64(p[1]&0x3f)
	}
}

var errCodec = errors.New("recorder: codec not recorded")

func codecError(mime string) error { return fmt.Errorf("%w: %s", errCodec, mime) }
