package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sselog/sselog/api"
)

// token prints a subscriber token: what an app's backend hands a browser
// so it can open that user's stream (and nobody else's).
func token(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var user, secret string
	var ttl time.Duration
	f := newEnvFlags("token", "Print a subscriber token (HS256 JWT, sub = user) for one user.", getenv, stdout)
	f.String(&user, "user", "", "", "user id the token reads (required)")
	f.Duration(&ttl, "ttl", "", time.Hour, "how long the token is valid")
	f.Secret(&secret, "subscriber-secret", "SSELOG_SUBSCRIBER_SECRET", "the server's subscriber secret (required)")
	if err := f.Parse(args); err != nil {
		return err
	}
	secret = strings.TrimSpace(secret) // as serve trims it
	if user == "" {
		return errors.New("token: --user is required")
	}
	if secret == "" {
		return errors.New("token: --subscriber-secret (or SSELOG_SUBSCRIBER_SECRET) is required")
	}
	tok, err := api.IssueToken(secret, user, ttl, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
