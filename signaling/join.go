package signaling

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/routing"
)

// maxJoinRequest bounds a decompressed join request (it carries an SDP offer, a few KB).
const maxJoinRequest = 256 << 10

// accessToken finds the token in the query or the Authorization header.
func accessToken(r *http.Request) string {
	if t := r.URL.Query().Get("access_token"); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	return ""
}

func badRequest(format string, a ...any) error {
	return &auth.Error{Status: http.StatusBadRequest, Reason: fmt.Sprintf(format, a...)}
}

// parseJoin reads a join from either endpoint: /rtc/v1 carries a wrapped JoinRequest, /rtc carries
// the same settings as query parameters.
func parseJoin(r *http.Request, v1 bool, grants *auth.Grants) (*routing.JoinParams, error) {
	q := r.URL.Query()
	jp := &routing.JoinParams{
		Grants:        grants,
		AutoSubscribe: true,
	}
	raw := strings.TrimSpace(q.Get("join_request"))
	if v1 && raw == "" {
		return nil, badRequest("missing join_request")
	}
	// A join_request selects single-connection mode on either path (server-sdk-go sends it to /rtc).
	jp.SinglePC = raw != ""
	if jp.SinglePC {
		jr, err := decodeJoinRequest(raw)
		if err != nil {
			return nil, err
		}
		jp.Request = jr
		if cs := jr.GetConnectionSettings(); cs != nil {
			jp.AutoSubscribe = cs.AutoSubscribe
			jp.AdaptiveStream = cs.AdaptiveStream
		}
		jp.Reconnect = jr.Reconnect
		jp.ReconnectReason = jr.ReconnectReason
		jp.ParticipantSID = jr.ParticipantSid
		jp.ClientInfo = jr.ClientInfo
	} else {
		jp.Request = &livekit.JoinRequest{}
		if v := q.Get("auto_subscribe"); v != "" {
			jp.AutoSubscribe = v == "1" || v == "true"
		}
		jp.AdaptiveStream = q.Get("adaptive_stream") == "1" || q.Get("adaptive_stream") == "true"
		jp.Reconnect = q.Get("reconnect") == "1" || q.Get("reconnect") == "true"
		jp.ParticipantSID = q.Get("sid")
		if v, err := strconv.Atoi(q.Get("reconnect_reason")); err == nil {
			jp.ReconnectReason = livekit.ReconnectReason(v)
		}
		ci := &livekit.ClientInfo{
			Version:        q.Get("version"),
			Os:             q.Get("os"),
			OsVersion:      q.Get("os_version"),
			DeviceModel:    q.Get("device_model"),
			Browser:        q.Get("browser"),
			BrowserVersion: q.Get("browser_version"),
			Network:        q.Get("network"),
		}
		if p, err := strconv.ParseInt(q.Get("protocol"), 10, 32); err == nil {
			ci.Protocol = int32(p)
		}
		if sdk, ok := livekit.ClientInfo_SDK_value[strings.ToUpper(q.Get("sdk"))]; ok {
			ci.Sdk = livekit.ClientInfo_SDK(sdk)
		}
		jp.ClientInfo = ci
	}
	return jp, nil
}

func decodeJoinRequest(raw string) (*livekit.JoinRequest, error) {
	raw = strings.TrimSpace(raw)
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err = enc.DecodeString(raw); err == nil {
			break
		}
	}
	if err != nil {
		return nil, badRequest("join_request is not base64: %v", err)
	}
	var w livekit.WrappedJoinRequest
	if err := proto.Unmarshal(b, &w); err != nil {
		return nil, badRequest("join_request is not a WrappedJoinRequest: %v", err)
	}
	inner := w.JoinRequest
	switch w.Compression {
	case livekit.WrappedJoinRequest_NONE:
	case livekit.WrappedJoinRequest_GZIP:
		zr, err := gzip.NewReader(bytes.NewReader(inner))
		if err != nil {
			return nil, badRequest("join_request: bad gzip: %v", err)
		}
		inner, err = io.ReadAll(io.LimitReader(zr, maxJoinRequest+1))
		if err != nil {
			return nil, badRequest("join_request: bad gzip: %v", err)
		}
		if len(inner) > maxJoinRequest {
			return nil, badRequest("join_request larger than %d bytes", maxJoinRequest)
		}
	default:
		return nil, badRequest("join_request: unknown compression %d", w.Compression)
	}
	var jr livekit.JoinRequest
	if err := proto.Unmarshal(inner, &jr); err != nil {
		return nil, badRequest("join_request is not a JoinRequest: %v", err)
	}
	return &jr, nil
}
