package signaling

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/livekit/protocol/livekit"
	"google.golang.org/protobuf/proto"

	"github.com/hop-meet/hop/signaling/auth"
	"github.com/hop-meet/hop/signaling/routing"
)

type joinParams = routing.JoinParams

func sampleJoinRequest() *livekit.JoinRequest {
	return &livekit.JoinRequest{
		ClientInfo: &livekit.ClientInfo{Sdk: livekit.ClientInfo_JS, Version: "2.15.0", Protocol: 16, Browser: "chrome"},
		ConnectionSettings: &livekit.ConnectionSettings{
			AutoSubscribe:  false,
			AdaptiveStream: true,
		},
		Metadata:        "meta",
		Reconnect:       true,
		ReconnectReason: livekit.ReconnectReason_RR_SIGNAL_DISCONNECTED,
		ParticipantSid:  "PA_abc",
		PublisherOffer:  &livekit.SessionDescription{Type: "offer", Sdp: "v=0\r\n" + strings.Repeat("a=x\r\n", 200)},
	}
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func marshalProto(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wrap builds the join_request parameter value.
func wrap(t testing.TB, jr *livekit.JoinRequest, compression livekit.WrappedJoinRequest_Compression, enc *base64.Encoding) string {
	t.Helper()
	inner := marshalProto(t, jr)
	if compression == livekit.WrappedJoinRequest_GZIP {
		inner = gz(t, inner)
	}
	return enc.EncodeToString(marshalProto(t, &livekit.WrappedJoinRequest{Compression: compression, JoinRequest: inner}))
}

func wantBadRequest(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if s := auth.Status(err); s != http.StatusBadRequest {
		t.Fatalf("status %d for %v, want 400", s, err)
	}
	if err.Error() == "" {
		t.Fatal("empty reason")
	}
}

func TestDecodeJoinRequest(t *testing.T) {
	want := sampleJoinRequest()
	encs := map[string]*base64.Encoding{
		"url padded":   base64.URLEncoding,
		"url raw":      base64.RawURLEncoding,
		"std padded":   base64.StdEncoding,
		"std raw":      base64.RawStdEncoding,
		"url + spaces": base64.URLEncoding,
	}
	for name, enc := range encs {
		for _, comp := range []livekit.WrappedJoinRequest_Compression{livekit.WrappedJoinRequest_NONE, livekit.WrappedJoinRequest_GZIP} {
			t.Run(name+"/"+comp.String(), func(t *testing.T) {
				raw := wrap(t, want, comp, enc)
				if name == "url + spaces" {
					raw = " \n" + raw + "\t "
				}
				got, err := decodeJoinRequest(raw)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !proto.Equal(got, want) {
					t.Fatalf("got %v\nwant %v", got, want)
				}
			})
		}
	}
}

// TestDecodeJoinRequestEncodingsDiffer makes sure the test above exercises distinct alphabets and
// padding: a payload with '-', '_', '+', '/' and '=' in its encodings.
func TestDecodeJoinRequestEncodingsDiffer(t *testing.T) {
	var jr *livekit.JoinRequest
	var u, s string
	for n := 0; n < 12; n++ {
		jr = &livekit.JoinRequest{Metadata: strings.Repeat("?>~", 3+n)}
		u = wrap(t, jr, livekit.WrappedJoinRequest_NONE, base64.URLEncoding)
		s = wrap(t, jr, livekit.WrappedJoinRequest_NONE, base64.StdEncoding)
		if strings.ContainsAny(u, "-_") && strings.ContainsAny(s, "+/") && strings.HasSuffix(u, "=") {
			break
		}
	}
	if !strings.ContainsAny(u, "-_") || !strings.ContainsAny(s, "+/") || !strings.HasSuffix(u, "=") {
		t.Fatalf("no sample exercises the alphabets: %s %s", u, s)
	}
	for _, raw := range []string{u, s, strings.TrimRight(u, "="), strings.TrimRight(s, "=")} {
		got, err := decodeJoinRequest(raw)
		if err != nil || got.Metadata != jr.Metadata {
			t.Errorf("decode(%q) = %v, %v", raw, got, err)
		}
	}
}

func TestDecodeJoinRequestErrors(t *testing.T) {
	okInner := marshalProto(t, sampleJoinRequest())
	enc := base64.RawURLEncoding.EncodeToString
	wrapped := func(c livekit.WrappedJoinRequest_Compression, inner []byte) string {
		return enc(marshalProto(t, &livekit.WrappedJoinRequest{Compression: c, JoinRequest: inner}))
	}
	// A gzip bomb: tiny compressed, more than 256 KiB decompressed.
	bomb := gz(t, append(okInner, make([]byte, maxJoinRequest)...))
	if len(bomb) > 4096 {
		t.Fatalf("bomb is %d bytes compressed", len(bomb))
	}
	// Exactly at the limit is accepted: a valid message padded with an unknown field.
	atLimit := append([]byte(nil), okInner...)
	pad := maxJoinRequest - len(atLimit) - 4 // tag (1) + length varint (3)
	atLimit = append(atLimit, 0xfa, 0x3e)    // field 999, wire type 2 (two-byte tag)
	pad--                                    // the tag took two bytes
	atLimit = append(atLimit, byte(pad)|0x80, byte(pad>>7)|0x80, byte(pad>>14))
	atLimit = append(atLimit, make([]byte, pad)...)
	if len(atLimit) != maxJoinRequest {
		t.Fatalf("at-limit message is %d bytes", len(atLimit))
	}
	if _, err := decodeJoinRequest(wrapped(livekit.WrappedJoinRequest_GZIP, gz(t, atLimit))); err != nil {
		t.Fatalf("join request of exactly %d bytes refused: %v", maxJoinRequest, err)
	}

	tests := []struct {
		name   string
		raw    string
		reason string
	}{
		{"not base64", "!!!not base64!!!", "not base64"},
		{"base64 of garbage", enc([]byte{0xff, 0xff, 0xff, 0xff}), "not a WrappedJoinRequest"},
		{"unknown compression", wrapped(livekit.WrappedJoinRequest_Compression(7), okInner), "unknown compression 7"},
		{"gzip flag, not gzip", wrapped(livekit.WrappedJoinRequest_GZIP, okInner), "bad gzip"},
		{"truncated gzip", wrapped(livekit.WrappedJoinRequest_GZIP, gz(t, okInner)[:20]), "bad gzip"},
		{"gzip bomb", wrapped(livekit.WrappedJoinRequest_GZIP, bomb), "larger than"},
		{"gzip of garbage", wrapped(livekit.WrappedJoinRequest_GZIP, gz(t, []byte{0xff, 0xff, 0xff})), "not a JoinRequest"},
		{"inner garbage", wrapped(livekit.WrappedJoinRequest_NONE, []byte{0x0a, 0x50, 0x01}), "not a JoinRequest"},
		{"mixed alphabets", "+-" + wrap(t, sampleJoinRequest(), 0, base64.RawURLEncoding), "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jr, err := decodeJoinRequest(tt.raw)
			if jr != nil {
				t.Errorf("request returned with an error")
			}
			wantBadRequest(t, err)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("reason %q does not mention %q", err, tt.reason)
			}
		})
	}
}

func request(t *testing.T, path string, q url.Values) *http.Request {
	t.Helper()
	return httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil)
}

func TestParseJoinSinglePC(t *testing.T) {
	jr := sampleJoinRequest()
	grants := &auth.Grants{}
	for _, path := range []string{"/rtc/v1", "/rtc"} {
		for _, comp := range []livekit.WrappedJoinRequest_Compression{livekit.WrappedJoinRequest_NONE, livekit.WrappedJoinRequest_GZIP} {
			q := url.Values{
				"access_token":   {"t"},
				"join_request":   {wrap(t, jr, comp, base64.StdEncoding)},
				"auto_subscribe": {"1"}, // v0 parameters are ignored when a join_request is present
				"sid":            {"PA_other"},
			}
			jp, err := parseJoin(request(t, path, q), path == "/rtc/v1", grants)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !jp.SinglePC {
				t.Errorf("%s with join_request: SinglePC false", path)
			}
			if jp.Grants != grants {
				t.Errorf("grants not passed through")
			}
			if !proto.Equal(jp.Request, jr) {
				t.Errorf("Request = %v", jp.Request)
			}
			if jp.AutoSubscribe || !jp.AdaptiveStream || !jp.Reconnect ||
				jp.ReconnectReason != livekit.ReconnectReason_RR_SIGNAL_DISCONNECTED || jp.ParticipantSID != "PA_abc" {
				t.Errorf("%s: settings from the join request not used: %+v", path, jp)
			}
			if !proto.Equal(jp.ClientInfo, jr.ClientInfo) {
				t.Errorf("ClientInfo = %v", jp.ClientInfo)
			}
		}
	}
}

func TestParseJoinSinglePCAutoSubscribe(t *testing.T) {
	jr := &livekit.JoinRequest{ConnectionSettings: &livekit.ConnectionSettings{AutoSubscribe: true}}
	q := url.Values{"join_request": {wrap(t, jr, 0, base64.URLEncoding)}, "auto_subscribe": {"0"}}
	jp, err := parseJoin(request(t, "/rtc/v1", q), true, &auth.Grants{})
	if err != nil {
		t.Fatal(err)
	}
	if !jp.AutoSubscribe || jp.AdaptiveStream || jp.Reconnect {
		t.Errorf("got %+v", jp)
	}
}

func TestParseJoinErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		v1   bool
		q    url.Values
	}{
		{"v1 without join_request", "/rtc/v1", true, url.Values{"access_token": {"t"}}},
		{"v1 with v0 parameters only", "/rtc/v1", true, url.Values{"auto_subscribe": {"1"}, "protocol": {"16"}}},
		{"v1 with empty join_request", "/rtc/v1", true, url.Values{"join_request": {""}}},
		{"v1 with bad join_request", "/rtc/v1", true, url.Values{"join_request": {"%%%"}}},
		{"v0 with bad join_request", "/rtc", false, url.Values{"join_request": {"AAAA!"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jp, err := parseJoin(request(t, tt.path, tt.q), tt.v1, &auth.Grants{})
			if jp != nil {
				t.Errorf("params returned with an error: %+v", jp)
			}
			wantBadRequest(t, err)
		})
	}
}

func TestParseJoinV0(t *testing.T) {
	tests := []struct {
		name  string
		q     url.Values
		check func(t *testing.T, jp *joinParams)
	}{
		{
			name: "defaults",
			q:    url.Values{"access_token": {"t"}},
			check: func(t *testing.T, jp *joinParams) {
				if !jp.AutoSubscribe || jp.AdaptiveStream || jp.Reconnect || jp.ParticipantSID != "" || jp.ReconnectReason != 0 {
					t.Errorf("defaults: %+v", jp)
				}
				if jp.ClientInfo == nil || jp.ClientInfo.Protocol != 0 || jp.ClientInfo.Sdk != livekit.ClientInfo_UNKNOWN {
					t.Errorf("client info: %v", jp.ClientInfo)
				}
			},
		},
		{
			name: "auto_subscribe=0",
			q:    url.Values{"auto_subscribe": {"0"}},
			check: func(t *testing.T, jp *joinParams) {
				if jp.AutoSubscribe {
					t.Error("auto_subscribe=0 subscribes")
				}
			},
		},
		{
			name: "auto_subscribe=false",
			q:    url.Values{"auto_subscribe": {"false"}},
			check: func(t *testing.T, jp *joinParams) {
				if jp.AutoSubscribe {
					t.Error("auto_subscribe=false subscribes")
				}
			},
		},
		{
			name: "auto_subscribe=1, adaptive_stream=1",
			q:    url.Values{"auto_subscribe": {"1"}, "adaptive_stream": {"1"}},
			check: func(t *testing.T, jp *joinParams) {
				if !jp.AutoSubscribe || !jp.AdaptiveStream {
					t.Errorf("%+v", jp)
				}
			},
		},
		{
			name: "auto_subscribe=true, adaptive_stream=true",
			q:    url.Values{"auto_subscribe": {"true"}, "adaptive_stream": {"true"}},
			check: func(t *testing.T, jp *joinParams) {
				if !jp.AutoSubscribe || !jp.AdaptiveStream {
					t.Errorf("%+v", jp)
				}
			},
		},
		{
			name: "adaptive_stream=0",
			q:    url.Values{"adaptive_stream": {"0"}},
			check: func(t *testing.T, jp *joinParams) {
				if jp.AdaptiveStream {
					t.Error("adaptive_stream=0 enabled")
				}
			},
		},
		{
			name: "reconnect",
			q:    url.Values{"reconnect": {"1"}, "sid": {"PA_xyz"}, "reconnect_reason": {"2"}},
			check: func(t *testing.T, jp *joinParams) {
				if !jp.Reconnect || jp.ParticipantSID != "PA_xyz" || jp.ReconnectReason != livekit.ReconnectReason(2) {
					t.Errorf("%+v", jp)
				}
			},
		},
		{
			name: "reconnect=0 keeps the sid but does not reconnect",
			q:    url.Values{"reconnect": {"0"}, "sid": {"PA_xyz"}},
			check: func(t *testing.T, jp *joinParams) {
				if jp.Reconnect {
					t.Error("reconnect=0 reconnects")
				}
			},
		},
		{
			name: "client info",
			q: url.Values{
				"protocol": {"16"}, "sdk": {"js"}, "version": {"2.15.0"}, "os": {"linux"}, "os_version": {"6.1"},
				"device_model": {"pc"}, "browser": {"chrome"}, "browser_version": {"126"}, "network": {"wifi"},
			},
			check: func(t *testing.T, jp *joinParams) {
				ci := jp.ClientInfo
				if ci.Protocol != 16 || ci.Sdk != livekit.ClientInfo_JS || ci.Version != "2.15.0" || ci.Os != "linux" ||
					ci.OsVersion != "6.1" || ci.DeviceModel != "pc" || ci.Browser != "chrome" || ci.BrowserVersion != "126" || ci.Network != "wifi" {
					t.Errorf("client info %v", ci)
				}
			},
		},
		{
			name: "sdk in upper case, go",
			q:    url.Values{"sdk": {"GO"}, "protocol": {"15"}},
			check: func(t *testing.T, jp *joinParams) {
				if jp.ClientInfo.Sdk != livekit.ClientInfo_GO || jp.ClientInfo.Protocol != 15 {
					t.Errorf("client info %v", jp.ClientInfo)
				}
			},
		},
		{
			name: "unknown sdk and bad protocol",
			q:    url.Values{"sdk": {"cobol"}, "protocol": {"sixteen"}, "reconnect_reason": {"x"}},
			check: func(t *testing.T, jp *joinParams) {
				if jp.ClientInfo.Sdk != livekit.ClientInfo_UNKNOWN || jp.ClientInfo.Protocol != 0 || jp.ReconnectReason != 0 {
					t.Errorf("%+v %v", jp, jp.ClientInfo)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jp, err := parseJoin(request(t, "/rtc", tt.q), false, &auth.Grants{})
			if err != nil {
				t.Fatal(err)
			}
			if jp.SinglePC {
				t.Error("SinglePC without a join_request")
			}
			if jp.Request == nil {
				t.Error("Request is nil; want an empty JoinRequest")
			}
			tt.check(t, jp)
		})
	}
}

func TestAccessToken(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/rtc?access_token=fromquery", nil)
	r.Header.Set("Authorization", "Bearer fromheader")
	if got := accessToken(r); got != "fromquery" {
		t.Errorf("query and header: %q, want the query's", got)
	}
	r = httptest.NewRequest(http.MethodGet, "/rtc", nil)
	r.Header.Set("Authorization", "Bearer fromheader")
	if got := accessToken(r); got != "fromheader" {
		t.Errorf("header: %q", got)
	}
	r = httptest.NewRequest(http.MethodGet, "/rtc", nil)
	r.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	if got := accessToken(r); got != "" {
		t.Errorf("basic auth taken as a token: %q", got)
	}
	if got := accessToken(httptest.NewRequest(http.MethodGet, "/rtc", nil)); got != "" {
		t.Errorf("no token: %q", got)
	}
}

func FuzzDecodeJoinRequest(f *testing.F) {
	jr := sampleJoinRequest()
	f.Add(wrap(f, jr, livekit.WrappedJoinRequest_NONE, base64.URLEncoding))
	f.Add(wrap(f, jr, livekit.WrappedJoinRequest_GZIP, base64.RawURLEncoding))
	f.Add(wrap(f, &livekit.JoinRequest{}, livekit.WrappedJoinRequest_GZIP, base64.StdEncoding))
	f.Add(base64.RawURLEncoding.EncodeToString(marshalProto(f, &livekit.WrappedJoinRequest{Compression: 9, JoinRequest: []byte{1}})))
	f.Add("")
	f.Add("====")
	f.Add("H4sIAAAAAAAA")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, raw string) {
		jr, err := decodeJoinRequest(raw)
		if err != nil {
			if jr != nil {
				t.Fatal("request and error both returned")
			}
			if s := auth.Status(err); s != http.StatusBadRequest {
				t.Fatalf("status %d for %v", s, err)
			}
			return
		}
		if jr == nil {
			t.Fatal("no request and no error")
		}
		if proto.Size(jr) > maxJoinRequest {
			t.Fatalf("decoded request of %d bytes", proto.Size(jr))
		}
	})
}
