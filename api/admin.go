package api

import (
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
	acceptedLong(w)
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
	case !started:
		s.fail(w, r, fmt.Errorf("%w: backup: %w", errUnavailable, err))
	case r.Context().Err() == nil:
		// Headers are gone; the short body (shorter than Content-Length)
		// tells the client the copy failed.
		s.logger.Error("backup failed mid-stream", "bytes", n, "err", err)
	}
}

type healthBody struct {
	Status string `json:"status"`
	// Auth is "open" (no keys: anyone on loopback may publish) or "keys";
	// the demo page shows its publish form only in open mode. It is in
	// every answer: whether keys are set is no secret (a publish without
	// one says as much).
	Auth     string `json:"auth"`
	Version  string `json:"version,omitempty"`
	Revision string `json:"revision,omitempty"`
	Last     string `json:"lastEventId,omitempty"`
	Time     string `json:"time,omitempty"`
}

// handleHealth answers liveness probes. It reads no file: a probe must not
// queue behind a slow disk. It says only "ok" and the auth mode: the
// version, the newest id and the clock (which tell when the last publish
// happened) are for ?details=1 with the publisher key.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	auth := "keys"
	if s.openMode() {
		auth = "open"
	}
	if r.URL.Query().Get("details") == "" {
		writeJSON(w, http.StatusOK, healthBody{Status: "ok", Auth: auth})
		return
	}
	if err := s.requirePublisher(r); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, healthBody{
		Status:   "ok",
		Auth:     auth,
		Version:  s.cfg.Version,
		Revision: s.cfg.Revision,
		Last:     s.log.Last().String(),
		Time:     s.now().UTC().Format(time.RFC3339Nano),
	})
}

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
