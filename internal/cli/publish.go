package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sselog/sselog/client"
)

// Defaults for the subcommands that talk to a running server.
const (
	defaultURL = "http://127.0.0.1:8080"
	urlUsage   = "base URL of the sselog server"
)

// publish sends one event from the terminal and prints its id.
func publish(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var base, key, user, event, data, idem string
	var broadcast bool
	f := newEnvFlags("publish", "Publish one event to a user, or to everyone with --broadcast, and print its id.", getenv, stdout)
	f.String(&base, "url", "SSELOG_URL", defaultURL, urlUsage)
	f.Secret(&key, "publisher-key", "SSELOG_PUBLISHER_KEY", "publisher key (not needed in open mode)")
	f.String(&user, "user", "", "", "user to publish to")
	f.Bool(&broadcast, "broadcast", "", "publish to every user instead of --user")
	f.String(&event, "event", "", "", `event name (default "message")`)
	f.String(&data, "data", "", "", `event data, any JSON value, e.g. '{"text":"hi"}'; "-" reads it from stdin`)
	f.String(&idem, "idempotency-key", "", "", "makes a retry return the first id instead of storing twice")
	if err := f.Parse(args); err != nil {
		return err
	}
	key = strings.TrimSpace(key) // as serve trims it
	if (user == "") == !broadcast {
		return errors.New("publish: give exactly one of --user or --broadcast")
	}
	raw, err := readData(data)
	if err != nil {
		return err
	}
	c, err := client.New(base, client.WithPublisherKey(key))
	if err != nil {
		return err
	}
	var id string
	if broadcast {
		id, err = c.Broadcast(ctx, event, raw, idem)
	} else {
		id, err = c.Publish(ctx, user, event, raw, idem)
	}
	if err != nil {
		return explainAuth(err, "publish", keyHint)
	}
	_, err = fmt.Fprintln(stdout, id)
	return err
}

// readData takes --data as given, or from stdin for "-", and checks it is
// JSON before anything is sent.
func readData(data string) (json.RawMessage, error) {
	if data == "-" {
		b, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("publish: read data from stdin: %w", err)
		}
		data = string(b)
	}
	data = strings.TrimSpace(data)
	if data == "" {
		return nil, errors.New("publish: --data is required (any JSON value)")
	}
	if !json.Valid([]byte(data)) {
		return nil, errors.New("publish: --data is not valid JSON (quote strings: --data '\"hi\"')")
	}
	return json.RawMessage(data), nil
}
