package sfu

import (
	"errors"
	"io"
	"sync"

	"github.com/pion/webrtc/v4"
)

// The engine detaches every data channel (SettingEngine.DetachDataChannels) and reads it here.
// pion's own reader keeps a 64 KiB buffer per channel for the channel's life, four per
// participant; LiveKit's data packets are mostly well under a kilobyte, so each channel reads into
// a small buffer and borrows a large one only for a message that does not fit.
const (
	smallDataBuffer = 2 << 10
	// maxDataMessage is the largest message pion's SCTP accepts by default.
	maxDataMessage = 64 << 10
)

var largeDataBuffers = sync.Pool{New: func() any { b := make([]byte, maxDataMessage); return &b }}

// ReadDataChannel reads dc's messages once it opens and hands each to onMessage (nil: read and
// discard, so an unused channel cannot hold up the association's receive window). The message is
// only valid during the call. Reading ends when the channel or its connection closes. onOpen, if
// set, runs once the channel is open, before the first message is read.
func ReadDataChannel(dc *webrtc.DataChannel, onOpen func(), onMessage func([]byte)) {
	dc.OnOpen(func() {
		rw, err := dc.Detach()
		if err != nil {
			return // closed before it opened
		}
		if onOpen != nil {
			onOpen()
		}
		go func() {
			defer dc.Close() //nolint:errcheck // ends the channel's send side too
			buf := make([]byte, smallDataBuffer)
			for {
				n, err := rw.Read(buf)
				if errors.Is(err, io.ErrShortBuffer) {
					// The message stays queued: read it again into a buffer that fits.
					lb := largeDataBuffers.Get().(*[]byte)
					n, err = rw.Read(*lb)
					if err == nil && onMessage != nil {
						onMessage((*lb)[:n])
					}
					largeDataBuffers.Put(lb)
					if err != nil {
						return
					}
					continue
				}
				if err != nil {
					return
				}
				if onMessage != nil {
					onMessage(buf[:n])
				}
			}
		}()
	})
}
