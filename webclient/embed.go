// Package webclient serves the small meeting page that a Hop node shows at "/".
//
// The page is built from webclient/src with Vite (`make webclient`) into webclient/dist, which is
// embedded here at compile time. Without a build, "/" answers 503 with a hint.
package webclient

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// Handler serves the embedded app: index.html at "/" and at meeting links /m/<room> (never
// cached), the hashed files under /assets/ with a long cache lifetime, any other built file as it
// is, and index.html with status 404 for any other path (the app shows its own page).
func Handler() http.Handler {
	root, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees dist exists
	}
	return handler(root)
}

func handler(root fs.FS) http.Handler {
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		if p == "/" || p == "/index.html" || strings.HasPrefix(p, "/m/") {
			serveIndex(w, r, root, http.StatusOK)
			return
		}
		name := strings.TrimPrefix(p, "/")
		if st, err := fs.Stat(root, name); err != nil || st.IsDir() || name == "README.txt" {
			if strings.HasPrefix(name, "assets/") {
				http.NotFound(w, r)
				return
			}
			// The app shows its own "not found" page, in the reader's language.
			serveIndex(w, r, root, http.StatusNotFound)
			return
		}
		if strings.HasPrefix(name, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

func serveIndex(w http.ResponseWriter, r *http.Request, root fs.FS, status int) {
	index, err := fs.ReadFile(root, "index.html")
	if err != nil && status == http.StatusNotFound {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("The web client is not built: run `make webclient` and rebuild hop.\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(index)
}
