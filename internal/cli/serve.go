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
	"time"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/stream"
)

// serve runs the server until ctx ends, then shuts down: streams are told
// to end, in-flight requests get --shutdown-timeout to finish, and the
// log is closed last so every acknowledged publish is on disk.
func serve(ctx context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	cfg, err := parseServeConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogFormat, stderr)
	if cfg.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return fmt.Errorf("load TLS certificate %s and key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
	}
	lg, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	srv, err := newHTTPServer(cfg, lg, logger)
	if err != nil {
		return errors.Join(err, lg.Close())
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.Addr, err), lg.Close())
	}
	started := time.Now()
	logger.Info("sselog started", append([]any{"version", versionString(), "addr", ln.Addr().String()}, cfg.logAttrs()...)...)
	if cfg.openMode() {
		logger.Warn("OPEN MODE: no publisher key and no subscriber secret are set, so anyone who can reach " +
			ln.Addr().String() + " may publish and read every user's events. Set SSELOG_PUBLISHER_KEY and SSELOG_SUBSCRIBER_SECRET before exposing it.")
	}
	stopPprof, err := startPprof(cfg.Pprof, logger)
	if err != nil {
		return errors.Join(err, ln.Close(), lg.Close())
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
	err = errors.Join(serveErr, shutdown(srv, cfg.ShutdownTimeout), stopPprof(), lg.Close())
	if err != nil {
		logger.Error("sselog stopped", "uptime", time.Since(started).Round(time.Millisecond), "err", err)
		return err
	}
	logger.Info("sselog stopped", "uptime", time.Since(started).Round(time.Millisecond))
	return nil
}

// newHTTPServer wires the API into an http.Server. There is no
// WriteTimeout (it would cut every stream: the stream handler sets a
// deadline per write instead) and no ReadTimeout (handlers bound their
// own body reads); ReadHeaderTimeout stops slowloris.
func newHTTPServer(cfg serveConfig, lg api.Store, logger *slog.Logger) (*http.Server, error) {
	a, err := api.New(lg, api.Config{
		PublisherKey:     cfg.PublisherKey,
		SubscriberSecret: cfg.SubscriberSecret,
		MaxBody:          cfg.MaxBody,
		MaxBatchBody:     cfg.MaxBatchBody,
		CORSOrigins:      cfg.origins(),
		Stream:           stream.Options{Retry: cfg.Retry, Heartbeat: cfg.Heartbeat, WriteTimeout: cfg.WriteTimeout, Logger: logger},
		Version:          versionString(),
		Logger:           logger,
	})
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(a.CloseStreams)
	return srv, nil
}

// shutdown stops accepting, ends streams (RegisterOnShutdown) and waits up
// to timeout for in-flight requests; past it, connections are cut.
func shutdown(srv *http.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still running after %s: %w", timeout, err)
	}
	return nil
}

// startPprof serves net/http/pprof on its own loopback listener (config
// validation refuses any other address) and returns its stop function.
func startPprof(addr string, logger *slog.Logger) (stop func() error, err error) {
	if addr == "" {
		return func() error { return nil }, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof server", "addr", addr, "err", err)
		}
	}()
	return srv.Close, nil
}
