// Package dashboard is the dashboard page yiwang serves at /: one HTML
// page, its script and its styles, embedded in the binary, with no
// library and nothing fetched from outside (it works on an intranet with
// no internet access). The page asks the API for everything it shows,
// with the token the user enters, so it shows only what that token may
// see; its charts are SVG drawn by its own script.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page at / and its files under /dashboard/.
func Handler() http.Handler {
	files, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	fileServer := http.StripPrefix("/dashboard/", http.FileServer(http.FS(files)))
	mux.Handle("GET /dashboard/", fileServer)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(files, "index.html")
		if err != nil {
			http.Error(w, "no page", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The page runs only its own script and styles and talks only to
		// this server.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(b)
	})
	return mux
}
