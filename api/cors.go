package api

import (
	"net/http"
	"strings"
)

// CORS answers for allowed origins only. The matching origin is echoed
// (never "*"), with credentials allowed, so an EventSource opened with
// withCredentials can carry the token cookie.
const (
	corsMethods = "GET, HEAD, POST, OPTIONS"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID"
	corsExpose  = "Content-Length, Content-Disposition, Retry-After, WWW-Authenticate"
	corsMaxAge  = "600"
)

// cors adds CORS headers to answers for allowed origins. It sets headers
// only, never wraps the ResponseWriter, so streaming is untouched.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		if o := r.Header.Get("Origin"); o != "" && s.origins[strings.ToLower(o)] {
			h.Set("Access-Control-Allow-Origin", o)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", corsExpose)
		}
		next.ServeHTTP(w, r)
	})
}

// preflight answers OPTIONS on a known route: 204, with the allowed
// methods and headers when the origin is allowed, and without them (the
// browser then refuses the real request) when it is not.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if h.Get("Access-Control-Allow-Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	w.WriteHeader(http.StatusNoContent)
}
