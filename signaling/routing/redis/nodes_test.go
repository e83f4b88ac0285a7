package redis

import "testing"

// Another node is reached at its signalling URL as HTTP, at its media address when it listens
// on every address.
func TestNodeHTTPURL(t *testing.T) {
	for _, c := range []struct{ url, media, want string }{
		{"ws://127.0.0.1:7880", "", "http://127.0.0.1:7880"},
		{"wss://10.0.0.5:443", "", "https://10.0.0.5:443"},
		{"ws://0.0.0.0:7880", "10.0.0.7", "http://10.0.0.7:7880"},
		{"ws://[::]:7880", "2001:db8::7", "http://[2001:db8::7]:7880"},
		{"ws://0.0.0.0:7880", "", ""},
		{"", "10.0.0.7", ""},
	} {
		got, err := NodeInfo{ID: "n", URL: c.url, MediaIP: c.media}.HTTPURL()
		if got != c.want || (err != nil) != (c.want == "") {
			t.Errorf("%q with media %q: %q, %v; want %q", c.url, c.media, got, err, c.want)
		}
	}
}
