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
	"github.com/sselog/sselog/eventlog"
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
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	lg, err := eventlog.Open(cfg.Data, eventlog.Options{
		MaxAge:             cfg.Retention,
		MaxEvents:          cfg.MaxEvents,
		BroadcastMaxAge:    cfg.Retention,
		BroadcastMaxEvents: cfg.MaxEvents,
		CompactInterval:    cfg.CompactInterval,
		Logger:             logger,
	})
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	srv, err := newHTTPServer(apiCfg, lg, logger)
	if err != nil {
		return errors.Join(err, ln.Close(), lg.Close())
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

// apiConfig is the API's part of the configuration.
func (c serveConfig) apiConfig(logger *slog.Logger) api.Config {
	return api.Config{
		PublisherKey:     c.PublisherKey,
		SubscriberSecret: c.SubscriberSecret,
		MaxBody:          c.MaxBody,
		MaxBatchBody:     c.MaxBatchBody,
		CORSOrigins:      c.origins(),
		Stream:           stream.Options{Retry: c.Retry, Heartbeat: c.Heartbeat, WriteTimeout: c.WriteTimeout, Logger: logger},
		Version:          versionString(),
		Revision:         revision(),
		Logger:           logger,
	}
}

// newHTTPServer wires the API into an http.Server. There is no
// WriteTimeout (it would cut every stream: the stream handler sets a
// deadline per write instead) and no ReadTimeout (handlers bound their
// own body reads); ReadHeaderTimeout stops slowloris.
func newHTTPServer(cfg api.Config, lg *eventlog.Log, logger *slog.Logger) (*http.Server, error) {
	a, err := api.New(lg, cfg)
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
