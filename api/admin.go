package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/julienschmidt/httprouter"
)

// handleBackup sends a consistent snapshot of the live data file. The
// snapshot is first copied to a local temporary file, then streamed from
// there: the read transaction it needs lasts as long as the local disk
// takes, never as long as the client. (bbolt cannot grow the file under an
// open read transaction, so a slow client reading straight from one froze
// every publish that needed the file to grow.) The answer carries an exact
// Content-Length, so a client can show progress and detect a cut transfer.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if err := s.requirePublisher(r); err != nil {
		s.fail(w, r, err)
		return
	}
	acceptedLong(w)
	tmp, size, err := s.snapshotToTemp()
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		// The store is backed up with its own tools; the error says how.
		s.fail(w, r, fmt.Errorf("%w: %w", errNotImplemented, err))
		return
	case err != nil:
		s.fail(w, r, fmt.Errorf("%w: backup: %w", errUnavailable, err))
		return
	}
	defer tmp.Close()
	name := "sselog-" + s.now().UTC().Format("20060102T150405Z") + ".db"
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// A client that stops reading is cut after the write timeout.
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), timeout: s.backupWriteTimeout()}
	n, err := io.Copy(dw, tmp)
	switch {
	case err == nil:
		s.logger.Info("backup sent", "bytes", n, "remote", r.RemoteAddr)
	case r.Context().Err() == nil:
		// Headers are gone; the short body (shorter than Content-Length)
		// tells the client the copy failed.
		s.logger.Error("backup failed mid-stream", "bytes", n, "err", err)
	}
}

// snapshotToTemp copies a snapshot into an unlinked temporary file (in
// $TMPDIR: it needs free space for one copy of the data file) and returns
// it open, at its start, with its size.
func (s *Server) snapshotToTemp() (io.ReadCloser, int64, error) {
	f, err := os.CreateTemp("", "sselog-backup-*.db")
	if err != nil {
		return nil, 0, fmt.Errorf("temporary file: %w", err)
	}
	// Unlinked at once: the space is freed when it is closed, even if
	// the process dies first. (Windows refuses; then it goes at Close.)
	removed := os.Remove(f.Name()) == nil
	fail := func(err error) (*os.File, int64, error) {
		_ = f.Close()
		if !removed {
			_ = os.Remove(f.Name())
		}
		return nil, 0, err
	}
	n, err := s.log.SnapshotSized(f, nil)
	if err != nil {
		return fail(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(fmt.Errorf("temporary file: %w", err))
	}
	if !removed {
		return removeOnClose{f}, n, nil
	}
	return f, n, nil
}

// removeOnClose removes its file when closed.
type removeOnClose struct{ *os.File }

func (r removeOnClose) Close() error {
	err := r.File.Close()
	_ = os.Remove(r.Name())
	return err
}

type healthBody struct {
	Status string `json:"status"`
	// Auth is "open" (no keys: anyone on loopback may publish) or "keys";
	// the demo page shows its publish form only in open mode. It is in
	// every answer: whether keys are set is no secret (a publish without
	// one says as much).
	Auth       string `json:"auth"`
	StalledFor string `json:"stalledFor,omitempty"`
	Store      string `json:"store,omitempty"`
	Error      string `json:"error,omitempty"`
	Version    string `json:"version,omitempty"`
	Revision   string `json:"revision,omitempty"`
	Last       string `json:"lastEventId,omitempty"`
	Time       string `json:"time,omitempty"`
}

// handleHealth answers liveness probes. It reads no file (a probe must not
// queue behind a slow disk), but a store whose commit in progress has run
// longer than StallAfter is reported stalled, 503: publishes are stuck. It
// says the status and the auth mode: the version, the newest id and the
// clock (which tell when the last publish happened) are for ?details=1
// with the publisher key.
//
// A store that can become unreachable (Checker, a replicated log) is
// asked, briefly: 503 "unavailable" while it cannot take writes, so a
// load balancer takes this node out. Which store it is ("bbolt",
// "jetstream") and why it is unavailable are details too.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	details := r.URL.Query().Get("details") != ""
	if details {
		if err := s.requirePublisher(r); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	body := healthBody{Status: "ok", Auth: "keys"}
	if s.openMode() {
		body.Auth = "open"
	}
	status := http.StatusOK
	store, reason := "bbolt", ""
	if c, ok := s.log.(Checker); ok {
		store = c.Kind()
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := c.Healthy(ctx); err != nil {
			status, body.Status, reason = http.StatusServiceUnavailable, "unavailable", "store unreachable"
			s.logger.Warn("health check failed", "store", store, "err", err)
		}
	}
	if d := s.log.Stalled(); status == http.StatusOK && d > s.stallAfter() {
		status, body.Status, body.StalledFor = http.StatusServiceUnavailable, "stalled", d.Round(time.Millisecond).String()
	}
	if details {
		body.Store, body.Error = store, reason
		body.Version, body.Revision = s.cfg.Version, s.cfg.Revision
		body.Last, body.Time = s.log.Last().String(), s.now().UTC().Format(time.RFC3339Nano)
	}
	writeJSON(w, status, body)
}

// defaultStallAfter is how long a commit may run before /healthz says the
// store is stalled: commits take milliseconds.
const defaultStallAfter = 10 * time.Second

func (s *Server) stallAfter() time.Duration {
	if s.cfg.StallAfter > 0 {
		return s.cfg.StallAfter
	}
	return defaultStallAfter
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
