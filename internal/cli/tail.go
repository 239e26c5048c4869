package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
)

// tail prints a user's events as JSON lines and, with --state, saves the
// id of each printed event so the next run resumes exactly after it.
func tail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var base, user, tok, state, from string
	f := newEnvFlags("tail", "Follow a user's stream, printing one JSON line per event: {\"id\",\"event\",\"data\"}.", getenv, stdout)
	f.String(&base, "url", "SSELOG_URL", defaultURL, urlUsage)
	f.String(&user, "user", "", "", "user whose stream to follow (required)")
	f.Secret(&tok, "token", "SSELOG_TOKEN", "subscriber token for --user (not needed in open mode; see sselog token)")
	f.String(&state, "state", "", "", "file holding the last printed id: read at start, rewritten after each event")
	f.String(&from, "from", "", "", `resume after this id when --state holds none ("0" = from the oldest retained; default: live events only)`)
	if err := f.Parse(args); err != nil {
		return err
	}
	if user == "" {
		return errors.New("tail: --user is required")
	}
	last, err := startID(state, from)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	c, err := client.New(base, client.WithRetryNotify(func(err error, wait time.Duration) {
		if err == nil {
			logger.Warn("the server ended the stream; reconnecting", "url", base, "in", wait.Round(time.Millisecond))
			return
		}
		logger.Warn("lost the server; retrying", "url", base, "in", wait.Round(time.Millisecond), "err", err)
	}))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	err = c.Tail(ctx, user, tok, last, func(m sse.Message) error {
		switch m.Event {
		case client.EventConnected:
			logger.Info("connected", "user", user, "url", base, "data", m.Data)
			if last != "" {
				return nil
			}
		case client.EventGap:
			logger.Warn("gap: events after the resume point are gone; refetch state", "data", m.Data)
		}
		if from := client.ResumeFrom(m); from != "" {
			// Where the stream stood, as Tail keeps it: a restart before
			// the first event resumes from here, not from the live tail.
			last = from
			return saveState(state, from)
		}
		if m.ID != "" {
			last = m.ID
		}
		if err := enc.Encode(tailLine{ID: m.ID, Event: m.Event, Data: json.RawMessage(m.Data)}); err != nil {
			return fmt.Errorf("tail: write: %w", err)
		}
		return saveState(state, m.ID)
	})
	if errors.Is(err, context.Canceled) {
		return nil // interrupted: the state file already holds the last id
	}
	return explainAuth(err, "tail", tokenHint)
}

type tailLine struct {
	ID    string          `json:"id"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

// startID picks the resume point: the state file's id, else --from,
// which is an event id or 0 (from the oldest retained).
func startID(state, from string) (string, error) {
	switch from {
	case "":
	case "0":
		from = eventlog.ZeroID.String()
	default:
		if _, err := eventlog.ParseID(from); err != nil {
			return "", fmt.Errorf("tail: --from %q: want an event id (26 characters, as tail prints) or 0 for the oldest retained", from)
		}
	}
	if state == "" {
		return from, nil
	}
	b, err := os.ReadFile(state)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return from, nil
	case err != nil:
		return "", fmt.Errorf("tail: read state: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if _, err := eventlog.ParseID(id); err != nil {
		return "", fmt.Errorf("tail: state file %s does not hold an event id: %w", state, err)
	}
	return id, nil
}

// saveState replaces the state file atomically (write, sync, rename), so a
// crash leaves either the old id or the new one, never half of one.
func saveState(path, id string) error {
	if path == "" || id == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("tail: save state: %w", err)
	}
	_, err = tmp.WriteString(id + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("tail: save state %s: %w", path, err)
	}
	return nil
}
