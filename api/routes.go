package api

import (
	"fmt"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/sselog/sselog/stream"
)

// route is one method and path of the API. The table is the router's only
// source, and the OpenAPI test checks the description against it.
type route struct {
	method, path string
	handle       httprouter.Handle
}

// routes lists every route the server answers. /metrics is left out when
// the caller serves MetricsHandler on its own listener.
func (s *Server) routes() []route {
	rs := []route{
		{http.MethodGet, "/v1/users/:user/stream", s.handleStream},
		{http.MethodGet, "/api/events", s.handleStreamAlias},
		{http.MethodGet, "/v1/users/:user/events", s.handleHistory},
		{http.MethodPost, "/v1/users/:user/events", s.handlePublish},
		{http.MethodGet, "/v1/users/:user/presence", s.handlePresence},
		{http.MethodPost, "/v1/broadcast", s.handleBroadcast},
		{http.MethodPost, "/v1/events", s.handleBatch},
		{http.MethodGet, "/v1/admin/backup", s.handleBackup},
		{http.MethodGet, "/healthz", s.handleHealth},
		{http.MethodHead, "/healthz", s.handleHealth}, // load balancers probe with HEAD
		{http.MethodGet, "/", s.handleIndex},
		{http.MethodGet, "/sselog.js", s.handleScript},
		{http.MethodGet, "/sselog.d.ts", s.handleTypes},
		{http.MethodGet, "/openapi.json", s.handleOpenAPI},
		{http.MethodGet, "/favicon.ico", s.handleFavicon},
	}
	if !s.cfg.MetricsElsewhere {
		rs = append(rs, route{http.MethodGet, "/metrics", s.handleMetrics})
	}
	return rs
}

// headRoutes adds HEAD to every GET route that lacks one: the GET handler
// itself (net/http drops the body of a HEAD answer), except where running
// it would cost: a stream would stay open, a backup would copy the file.
func (s *Server) headRoutes(rs []route) []route {
	special := map[string]httprouter.Handle{
		"/v1/users/:user/stream": s.headStream(func(ps httprouter.Params, _ *http.Request) string { return ps.ByName("user") }),
		"/api/events":            s.headStream(func(_ httprouter.Params, r *http.Request) string { return r.URL.Query().Get("userId") }),
		"/v1/admin/backup":       s.headBackup,
	}
	has := map[string]bool{}
	for _, rt := range rs {
		if rt.method == http.MethodHead {
			has[rt.path] = true
		}
	}
	out := rs
	for _, rt := range rs {
		if rt.method != http.MethodGet || has[rt.path] {
			continue
		}
		h := rt.handle
		if sp, ok := special[rt.path]; ok {
			h = sp
		}
		out = append(out, route{http.MethodHead, rt.path, h})
	}
	return out
}

// headStream answers HEAD on a stream route as GET would begin: the same
// checks and statuses, the stream's headers, and no stream.
func (s *Server) headStream(userOf func(httprouter.Params, *http.Request) string) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		user := userOf(ps, r)
		if user == "" && r.URL.Path == "/api/events" {
			s.fail(w, r, fmt.Errorf("%w: userId required", errBadRequest))
			return
		}
		if _, ok := s.reader(w, r, user); !ok {
			return
		}
		if err := s.limits.check(user); err != nil {
			s.fail(w, r, err) // past a cap, as GET would answer
			return
		}
		stream.SetHeaders(w.Header(), r)
		w.WriteHeader(http.StatusOK)
	}
}

// headBackup answers HEAD on the backup route: the key check and the
// headers, without copying the file.
func (s *Server) headBackup(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := s.requirePublisher(r); err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// handleFavicon answers the icon request browsers send with every page:
// no icon, cached for a day, rather than a 404 in the logs and metrics.
func (s *Server) handleFavicon(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.WriteHeader(http.StatusNoContent)
}
