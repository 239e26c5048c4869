package api

import (
	"embed"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// web holds the demo page, the browser client and its TypeScript
// declarations, built into the binary.
//
//go:embed web
var web embed.FS

// openAPI is the description of the HTTP API (api/openapi.json), served at
// /openapi.json; TestOpenAPIMatchesRouter keeps it true to the router.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.serveAsset(w, r, "web/index.html", "text/html; charset=utf-8")
}

func (s *Server) handleScript(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.serveAsset(w, r, "web/sselog.js", "text/javascript; charset=utf-8")
}

func (s *Server) handleTypes(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.serveAsset(w, r, "web/sselog.d.ts", "application/typescript; charset=utf-8")
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
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
