package room

import "github.com/hop-meet/hop/sfu"

// SFUTrack returns the SFU track behind a MediaTrack, or nil when the media engine is another
// (tests' fakes): a recorder subscribes to it directly.
func SFUTrack(mt MediaTrack) *sfu.Track {
	if s, ok := mt.(sfuTrack); ok {
		return s.t
	}
	return nil
}
