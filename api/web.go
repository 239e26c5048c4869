package api

import (
	"embed"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// web holds the demo page and the browser client, built into the binary.
//
//go:embed web
var web embed.FS

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.serveAsset(w, r, "web/index.html", "text/html; charset=utf-8")
}

func (s *Server) handleScript(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.serveAsset(w, r, "web/sselog.js", "text/javascript; charset=utf-8")
}

func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request, name, ctype string) {
	b, err := web.ReadFile(name)
	if err != nil {
		s.fail(w, r, err) // only if the embed is broken: a 500
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
