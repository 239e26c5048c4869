package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/sselog/sselog/sse"
	"github.com/sselog/sselog/stream"
)

// Default body limits.
const (
	DefaultMaxBody      = 64 << 10 // one publish
	DefaultMaxBatchBody = 1 << 20  // one batch
	// DefaultReadTimeout bounds how long a request, body included, may
	// take to arrive.
	DefaultReadTimeout = 10 * time.Second
)

// Config is what the server needs beyond the log.
type Config struct {
	// PublisherKey guards publish and admin routes; SubscriberSecret signs
	// subscriber tokens. Both empty is open mode (loopback only, checked
	// by the caller, which knows the address); one without the other is
	// an error.
	PublisherKey     string
	SubscriberSecret string
	// TokenAudience and TokenIssuer, when set, make a subscriber token's
	// aud and iss claims required and equal to them.
	TokenAudience string
	TokenIssuer   string
	// MaxBody bounds a single publish body and each event's data in a
	// batch; MaxBatchBody bounds a batch body. Zero means the default.
	MaxBody      int64
	MaxBatchBody int64
	// ReadTimeout bounds how long a request may take to arrive, body
	// included, counted from when its handler starts (http.Server's
	// ReadTimeout, which the CLI sets too, counts from the first byte).
	// Streams, history and backup clear it once the request is accepted.
	// Zero means DefaultReadTimeout.
	ReadTimeout time.Duration
	// MaxStreamsPerUser bounds the streams one user may hold open (0 means
	// DefaultMaxStreamsPerUser, negative no cap); MaxStreams bounds them
	// in all (0 or negative: no cap; the CLI derives it from the file
	// limit). Past either, a stream request is answered 429.
	MaxStreamsPerUser int
	MaxStreams        int
	// CORSOrigins lists the origins (scheme://host[:port]) allowed to call
	// the API from a browser with credentials. "*" is refused.
	CORSOrigins []string
	// Stream tunes the SSE handler (retry, heartbeat, write timeout).
	Stream stream.Options
	// MetricsElsewhere leaves /metrics off Handler's routes: the caller
	// serves MetricsHandler on its own (say loopback) listener.
	MetricsElsewhere bool
	// Version and Revision (the VCS revision built from) are reported by
	// /healthz?details=1.
	Version  string
	Revision string
	// Logger receives one line per failed request; nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time
	// StallAfter is how long one commit may take before /healthz reports
	// the store as stalled (503); 0 means 10 s.
	StallAfter time.Duration
}

// Server serves sselog's HTTP API over one log.
type Server struct {
	log     Store
	hub     *stream.Hub
	stream  *stream.Handler
	logger  *slog.Logger
	cfg     Config
	origins map[string]bool
	metrics *metrics
	limits  *streamLimits
	// metricsHandler serves metrics' registry.
	metricsHandler http.Handler
	// base is every request's root context (BaseContext); Abandon
	// cancels it with errShuttingDown.
	base    context.Context
	abandon context.CancelCauseFunc
}

// CheckConfig reports what New would refuse in cfg, without a store: a
// caller checks it before opening the data file, so a refused start
// leaves nothing behind.
func CheckConfig(cfg Config) error {
	if (cfg.PublisherKey == "") != (cfg.SubscriberSecret == "") {
		return errors.New("api: the publisher key and the subscriber secret come together: set both, or neither for open mode")
	}
	_, err := parseOrigins(cfg.CORSOrigins)
	return err
}

// New builds a server over lg. It owns a stream hub: call CloseStreams
// when shutting down, or http.Server.Shutdown waits on open streams.
func New(lg Store, cfg Config) (*Server, error) {
	if err := CheckConfig(cfg); err != nil {
		return nil, err
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxBatchBody <= 0 {
		cfg.MaxBatchBody = DefaultMaxBatchBody
	}
	if cfg.MaxStreamsPerUser == 0 {
		cfg.MaxStreamsPerUser = DefaultMaxStreamsPerUser
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	origins, err := parseOrigins(cfg.CORSOrigins)
	if err != nil {
		return nil, err
	}
	if cfg.Stream.Logger == nil {
		cfg.Stream.Logger = cfg.Logger
	}
	hub := stream.NewHub()
	s := &Server{
		log:     lg,
		hub:     hub,
		stream:  stream.NewHandler(lg, hub, cfg.Stream),
		logger:  cfg.Logger,
		cfg:     cfg,
		origins: origins,
		limits:  newStreamLimits(cfg.MaxStreamsPerUser, cfg.MaxStreams),
	}
	s.metrics = newMetrics(lg, hub)
	s.metricsHandler = s.metrics.handler(s.logger)
	s.base, s.abandon = context.WithCancelCause(context.Background())
	return s, nil
}

// BaseContext is the root of every request's context: set it as
// http.Server.BaseContext, so Abandon reaches requests in flight.
func (s *Server) BaseContext(net.Listener) context.Context { return s.base }

// Abandon cancels every request still in flight, each of which answers
// 503: a shutdown calls it shortly before its time runs out, so a request
// waiting on a slow store (a cluster without its quorum) gets an answer
// to retry on instead of a closed connection, and the shutdown ends
// clean. What such a request was storing may still be stored, as after
// any timeout; an Idempotency-Key makes the retry safe.
func (s *Server) Abandon() { s.abandon(errShuttingDown) }

// CloseStreams ends every open stream and refuses new ones. Register it
// with http.Server.RegisterOnShutdown.
func (s *Server) CloseStreams() { s.hub.Close() }

// WaitStreams waits, after CloseStreams, until every stream has ended or
// ctx ends. HTTP/1.1 streams are served off net/http's connection
// tracking (see stream.Handler.Serve), so http.Server.Shutdown does not
// wait for them: call WaitStreams after it and before closing the log.
func (s *Server) WaitStreams(ctx context.Context) error { return s.hub.Wait(ctx) }

func (s *Server) now() time.Time { return s.cfg.Now() }

// Handler returns the API's routes, with CORS around them.
func (s *Server) Handler() http.Handler {
	r := httprouter.New()
	r.RedirectTrailingSlash = false // a JSON API answers what was asked
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.fail(w, req, fmt.Errorf("%w: no route %s %s", errNotFound, req.Method, sse.Clip(req.URL.Path, 200)))
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.fail(w, req, fmt.Errorf("%w: %s does not accept %s (allowed: %s)", errMethodNotAllowed,
			sse.Clip(req.URL.Path, 200), req.Method, w.Header().Get("Allow")))
	})
	r.GlobalOPTIONS = http.HandlerFunc(s.preflight)
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		if v == http.ErrAbortHandler {
			panic(v) // net/http's own way to drop a response
		}
		s.fail(w, req, fmt.Errorf("panic: %v", v))
	}

	for _, rt := range s.headRoutes(s.routes()) {
		r.Handle(rt.method, rt.path, rt.handle)
	}
	return s.guard(s.cors(r))
}

// guard runs before every route. It gives the request its read deadline,
// so a body declared and never sent cannot hold a connection (handlers
// whose answers run long clear it once the request is accepted), and it
// refuses a body on a method that takes none rather than wait to discard it.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// ErrNotSupported (a test recorder) just means no deadline.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
		if err := s.checkOpenMode(r); err != nil {
			s.fail(w, r, err)
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			if r.ContentLength != 0 {
				s.fail(w, r, fmt.Errorf("%w: %s takes no body", errBadRequest, r.Method))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// acceptedLong clears the read deadline of a request whose answer runs
// long (a stream, a history page, a backup): it has no body left to read,
// and on HTTP/1 an expired read deadline would cancel its context.
func acceptedLong(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
}

// MetricsHandler serves the Prometheus figures.
func (s *Server) MetricsHandler() http.Handler { return s.metricsHandler }

// parseOrigins normalises the allowed-origins list.
func parseOrigins(list []string) (map[string]bool, error) {
	out := make(map[string]bool, len(list))
	for _, o := range list {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o == "*" || o == "null" {
			return nil, fmt.Errorf("api: CORS origin %q is refused: credentials must never go to every origin; list them", o)
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("api: CORS origin %q is not scheme://host[:port]", o)
		}
		out[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	return out, nil
}
