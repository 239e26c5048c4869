package api

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Open mode trusts whoever reaches the server, which the CLI allows only
// on a loopback socket. A loopback socket is still reachable from a page
// in the developer's browser: a DNS-rebinding page reaches it under its
// own host name, and any page may POST a text/plain body without a
// preflight. So in open mode a request must name a loopback host, and a
// publish that carries an Origin must come from the server's own origin
// (or one listed in CORSOrigins).

// checkOpenMode refuses, in open mode, what only a foreign page would send.
func (s *Server) checkOpenMode(r *http.Request) error {
	if !s.openMode() {
		return nil
	}
	if !loopbackHost(r.Host) {
		return fmt.Errorf("%w: open mode answers only requests to a loopback host (localhost, 127.0.0.1, [::1]), not %q; set keys to serve other names",
			errForbidden, clipHost(r.Host))
	}
	if r.Method == http.MethodPost {
		if o := r.Header.Get("Origin"); o != "" && !s.sameOrigin(r, o) && !s.origins[strings.ToLower(o)] {
			return fmt.Errorf("%w: open mode refuses publishes from another origin (%q); list it in CORS origins or set keys", errForbidden, clipHost(o))
		}
	}
	return nil
}

// loopbackHost reports whether a Host header names this machine's
// loopback: localhost (or a name under .localhost, which resolvers keep
// on loopback) or a loopback address, with or without a port.
func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	h, _, _ = strings.Cut(h, "%") // zone
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin reports whether origin is this server as the request named
// it (http or https, the same host and port).
func (s *Server) sameOrigin(r *http.Request, origin string) bool {
	o := strings.ToLower(origin)
	h := strings.ToLower(r.Host)
	return o == "http://"+h || o == "https://"+h
}

func clipHost(h string) string {
	if len(h) > 100 {
		return h[:100]
	}
	return h
}
