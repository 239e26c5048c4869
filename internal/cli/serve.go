package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	rpprof "runtime/pprof"
	"strings"
	"time"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/stream"
)

// serve runs the server until ctx ends, then shuts down: streams are told
// to end, in-flight requests get --shutdown-timeout to finish, and the
// log is closed last so every acknowledged publish is on disk.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseServeConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogFormat, stderr)
	ensureProcs(getenv, logger)
	if cfg.MaxStreams == 0 {
		cfg.MaxStreams = defaultMaxStreams(logger)
	}
	// Everything that can refuse the start is checked, and the port taken,
	// before the data file is opened: a refused start leaves no empty file
	// behind, and a second server on a running one's address and file
	// says the address is in use rather than that the file is locked.
	apiCfg := cfg.apiConfig(logger)
	if err := api.CheckConfig(apiCfg); err != nil {
		return err
	}
	if cfg.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return fmt.Errorf("load TLS certificate %s and key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
	}
	listen := func(addr string) (net.Listener, error) {
		var ln net.Listener
		var err error
		if cfg.openMode() {
			// The address string said loopback; the socket must be too (a
			// "localhost" that resolves to 0.0.0.0 would listen everywhere).
			ln, err = listenLoopback("open mode", addr)
		} else {
			ln, err = net.Listen("tcp", addr)
		}
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return ln, nil
	}
	ln, err := listen(cfg.Addr)
	if err != nil {
		return err
	}
	if cfg.NATS.enabled() {
		// A cluster node may wait minutes for JetStream (its peers
		// starting): its port must refuse connections meanwhile, so a
		// balancer sends them to another node, rather than take them
		// and leave them unanswered. The port was checked; it is taken
		// again (the same one, if the address said port 0) once the
		// log is open.
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			return err
		}
		lg, err := openStore(ctx, cfg, logger)
		if err != nil {
			if ctx.Err() != nil {
				// SIGTERM while waiting for JetStream: a stop, not a failure.
				logger.Info("sselog stopped before it started", "err", err)
				return nil
			}
			return err
		}
		if ln, err = listen(addr); err != nil {
			return errors.Join(err, lg.Close())
		}
		return run(ctx, cfg, apiCfg, ln, lg, logger)
	}
	lg, err := openStore(ctx, cfg, logger)
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	return run(ctx, cfg, apiCfg, ln, lg, logger)
}

// run serves on ln with the open log lg until ctx ends, then shuts down.
func run(ctx context.Context, cfg serveConfig, apiCfg api.Config, ln net.Listener, lg store, logger *slog.Logger) error {
	srv, a, err := newHTTPServer(apiCfg, lg, logger)
	if err != nil {
		return errors.Join(err, ln.Close(), lg.Close())
	}
	started := time.Now()
	logger.Info("sselog started", append([]any{"version", versionString(), "addr", ln.Addr().String()}, cfg.logAttrs()...)...)
	if cfg.openMode() {
		logger.Warn("OPEN MODE: no publisher key and no subscriber secret are set, so anyone who can reach " +
			ln.Addr().String() + " may publish and read every user's events. Set SSELOG_PUBLISHER_KEY and SSELOG_SUBSCRIBER_SECRET before exposing it.")
	}
	stopPprof, _, err := startPprof(cfg.Pprof, logger)
	if err != nil {
		return errors.Join(err, ln.Close(), lg.Close())
	}
	stopMetrics, err := startMetrics(cfg.MetricsAddr, a, logger)
	if err != nil {
		return errors.Join(err, stopPprof(), ln.Close(), lg.Close())
	}

	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		serveErr = fmt.Errorf("serve on %s: %w", ln.Addr(), serveErr)
	}
	err = errors.Join(serveErr, shutdown(srv, a, cfg.ShutdownTimeout), stopPprof(), stopMetrics(), lg.Close())
	if err != nil {
		logger.Error("sselog stopped", "uptime", time.Since(started).Round(time.Millisecond), "err", err)
		return err
	}
	logger.Info("sselog stopped", "uptime", time.Since(started).Round(time.Millisecond))
	return nil
}

// apiConfig is the API's part of the configuration.
func (c serveConfig) apiConfig(logger *slog.Logger) api.Config {
	return api.Config{
		PublisherKey:      c.PublisherKey,
		SubscriberSecret:  c.SubscriberSecret,
		MaxBody:           c.MaxBody,
		MaxBatchBody:      c.MaxBatchBody,
		TokenAudience:     c.TokenAudience,
		TokenIssuer:       c.TokenIssuer,
		ReadTimeout:       c.ReadTimeout,
		MaxStreams:        c.MaxStreams,
		MaxStreamsPerUser: c.MaxStreamsPerUser,
		MetricsElsewhere:  c.MetricsAddr != "",
		CORSOrigins:       c.origins(),
		Stream:            stream.Options{Retry: c.Retry, Heartbeat: c.Heartbeat, WriteTimeout: c.WriteTimeout, Logger: logger},
		Version:           versionString(),
		Revision:          revision(),
		Logger:            logger,
	}
}

// newHTTPServer wires the API into an http.Server. There is no
// WriteTimeout (it would cut every stream: the stream handler sets a
// deadline per write instead); ReadTimeout bounds every request from its
// first byte (streams, history and backup clear it once accepted), and
// ReadHeaderTimeout stops slowloris.
func newHTTPServer(cfg api.Config, lg api.Store, logger *slog.Logger) (*http.Server, *api.Server, error) {
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = api.DefaultReadTimeout
	}
	a, err := api.New(lg, cfg)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout, // from a request's first byte; long answers clear it
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.BaseContext = a.BaseContext
	srv.RegisterOnShutdown(a.CloseStreams)
	return srv, a, nil
}

// startMetrics serves /metrics on its own listener when addr is set, and
// returns its stop function.
func startMetrics(addr string, a *api.Server, logger *slog.Logger) (stop func() error, err error) {
	if addr == "" {
		return func() error { return nil }, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 10 * time.Second}
	logger.Info("metrics listening", "metrics_addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "addr", addr, "err", err)
		}
	}()
	return srv.Close, nil
}

// shutdown stops accepting, ends streams (RegisterOnShutdown) and waits up
// to timeout for in-flight requests and the streams net/http no longer
// tracks; a request still waiting near the end is answered 503 (Abandon),
// and past the timeout connections are cut.
func shutdown(srv *http.Server, a *api.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Requests still waiting on the store near the end (a cluster that
	// lost its quorum holds a publish for the store's whole timeout) are
	// answered 503 in time, rather than cut off with no answer.
	abandon := time.AfterFunc(timeout-min(timeout/4, time.Second), a.Abandon)
	defer abandon.Stop()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still running after %s: %w", timeout, err)
	}
	if err := a.WaitStreams(ctx); err != nil {
		return fmt.Errorf("shutdown: streams still open after %s: %w", timeout, err)
	}
	return nil
}

// listenLoopback listens on addr and keeps the socket only if it is bound
// to a loopback address: the check is on what was bound, not on the
// string, which a resolver may map anywhere.
func listenLoopback(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("%s: %s is bound to %s, which is not a loopback address; use 127.0.0.1 or [::1]", what, addr, ln.Addr())
	}
	return ln, nil
}

// startPprof serves net/http/pprof on its own listener, bound to a
// loopback address, and returns its stop function and address. The
// command line is never served: keys passed as flags would be in it.
func startPprof(addr string, logger *slog.Logger) (stop func() error, bound string, err error) {
	if addr == "" {
		return func() error { return nil }, "", nil
	}
	ln, err := listenLoopback("pprof", addr)
	if err != nil {
		return nil, "", fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/debug/pprof/" {
			pprofIndex(w)
			return
		}
		pprof.Index(w, r)
	})
	mux.HandleFunc("/debug/pprof/cmdline", http.NotFound)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof server", "addr", addr, "err", err)
		}
	}()
	return srv.Close, ln.Addr().String(), nil
}

// pprofIndex lists the profiles, without net/http/pprof's link to the
// command line.
func pprofIndex(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var b strings.Builder
	b.WriteString("sselog profiles (go tool pprof http://ADDR/debug/pprof/NAME):\n")
	for _, p := range rpprof.Profiles() {
		fmt.Fprintf(&b, "/debug/pprof/%s\n", p.Name())
	}
	b.WriteString("/debug/pprof/profile?seconds=30\n/debug/pprof/trace?seconds=5\n")
	_, _ = io.WriteString(w, b.String())
}
