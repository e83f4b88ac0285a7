package signaling

import (
	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/encoding/protojson"
)

// protojsonUnmarshal reads a JSON-encoded request (LiveKit clients may send JSON text frames).
func protojsonUnmarshal(b []byte, req *livekit.SignalRequest) error {
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, req)
}
