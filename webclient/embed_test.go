package webclient

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestNotBuilt(t *testing.T) {
	h := handler(fstest.MapFS{"README.txt": {Data: []byte("built by make webclient")}})
	rec := get(t, h, "/")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "make webclient") {
		t.Fatalf("GET / = %d %q", rec.Code, rec.Body.String())
	}
	if rec := get(t, h, "/README.txt"); rec.Code != http.StatusNotFound {
		t.Fatalf("GET /README.txt = %d", rec.Code)
	}
}

func TestBuilt(t *testing.T) {
	h := handler(fstest.MapFS{
		"index.html":         {Data: []byte("<!doctype html><title>Hop</title>")},
		"assets/index-1.js":  {Data: []byte("console.log(1)")},
		"assets/index-2.css": {Data: []byte("body{}")},
	})
	rec := get(t, h, "/")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<title>Hop</title>") {
		t.Fatalf("GET / = %d %q", rec.Code, rec.Body.String())
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
		t.Fatalf("index Cache-Control = %q", cc)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("index Content-Type = %q", ct)
	}
	rec = get(t, h, "/assets/index-1.js")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") {
		t.Fatalf("GET asset = %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, "javascript") {
		t.Fatalf("asset Content-Type = %q", ct)
	}
	if rec := get(t, h, "/nope.js"); rec.Code != http.StatusNotFound {
		t.Fatalf("GET /nope.js = %d", rec.Code)
	}
	if rec := get(t, h, "/assets/"); rec.Code != http.StatusNotFound {
		t.Fatalf("GET /assets/ = %d", rec.Code)
	}
}

func TestEmbeddedHandler(t *testing.T) {
	// Whatever dist holds (built or not), "/" answers 200 or 503, never a crash.
	rec := get(t, Handler(), "/")
	if rec.Code != http.StatusOK && rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("GET / = %d", rec.Code)
	}
}

// TestMeetingLinks: a meeting link is the app; any other page path gets the app with status 404,
// so people see the app's own "not found" page, not the server's text.
func TestMeetingLinks(t *testing.T) {
	h := handler(fstest.MapFS{
		"index.html":        {Data: []byte("<!doctype html><title>Hop</title>")},
		"assets/index-1.js": {Data: []byte("console.log(1)")},
	})
	for _, p := range []string{"/m/abc-defg-hij", "/m/giao%20ban%20s%C3%A1ng"} {
		rec := get(t, h, p)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<title>Hop</title>") {
			t.Errorf("GET %s = %d %q", p, rec.Code, rec.Body.String())
		}
	}
	for _, p := range []string{"/no/such/page", "/m"} {
		rec := get(t, h, p)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "<title>Hop</title>") {
			t.Errorf("GET %s = %d %q, want the app with 404", p, rec.Code, rec.Body.String())
		}
	}
	if rec := get(t, h, "/assets/missing.js"); rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "<title>") {
		t.Errorf("a missing asset = %d %q, want a plain 404", rec.Code, rec.Body.String())
	}
}
