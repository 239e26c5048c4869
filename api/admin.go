package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"
)

// handleBackup streams a consistent snapshot of the live data file. The
// size is known inside the snapshot's read transaction, before the first
// byte, so the answer carries an exact Content-Length and a client can
// both show progress and detect a cut transfer.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := s.requirePublisher(r); err != nil {
		s.fail(w, r, err)
		return
	}
	started := false
	name := "sselog-" + s.now().UTC().Format("20060102T150405Z") + ".db"
	// The snapshot holds a read transaction for the whole copy, and a
	// long reader stops the file from growing (bbolt cannot remap under
	// it): a client that stops reading must not hold it for long.
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: s.backupWriteTimeout()}
	n, err := s.log.SnapshotSized(dw, func(size int64) error {
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		started = true
		return nil
	})
	switch {
	case err == nil:
		s.logger.Info("backup sent", "bytes", n, "remote", r.RemoteAddr)
	case !started && errors.Is(err, errors.ErrUnsupported):
		// The store is backed up with its own tools; the error says how.
		s.fail(w, r, fmt.Errorf("%w: %w", errNotImplemented, err))
	case !started:
		s.fail(w, r, fmt.Errorf("%w: backup: %w", errUnavailable, err))
	case r.Context().Err() == nil:
		// Headers are gone; the short body (shorter than Content-Length)
		// tells the client the copy failed.
		s.logger.Error("backup failed mid-stream", "bytes", n, "err", err)
	}
}

type healthBody struct {
	Status  string `json:"status"`
	Store   string `json:"store"`
	Error   string `json:"error,omitempty"`
	Version string `json:"version,omitempty"`
	Last    string `json:"lastEventId"`
	Time    string `json:"time"`
}

// handleHealth answers liveness probes. On bbolt it reads no file: a
// probe must not queue behind a slow disk. A store that can become
// unreachable (Checker) is asked, briefly: 503 while it cannot take
// writes, so a load balancer takes this node out.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	body := healthBody{
		Status:  "ok",
		Store:   "bbolt",
		Version: s.cfg.Version,
		Last:    s.log.Last().String(),
		Time:    s.now().UTC().Format(time.RFC3339Nano),
	}
	status := http.StatusOK
	if c, ok := s.log.(Checker); ok {
		body.Store = c.Kind()
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := c.Healthy(ctx); err != nil {
			status, body.Status, body.Error = http.StatusServiceUnavailable, "unavailable", "store unreachable"
			s.logger.Warn("health check failed", "store", body.Store, "err", err)
		}
	}
	writeJSON(w, status, body)
}

// healthTimeout bounds how long a probe waits for the store.
const healthTimeout = 3 * time.Second

// deadlineWriter gives every write its own deadline, so a stalled reader
// fails the copy after timeout instead of holding it open forever.
type deadlineWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	// ErrNotSupported (a test recorder) just means no deadline.
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.w.Write(p)
}

func (s *Server) backupWriteTimeout() time.Duration {
	if t := s.cfg.Stream.WriteTimeout; t > 0 {
		return t
	}
	return 30 * time.Second
}
