package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sselog/sselog/client"
)

// refused is a request the server refused for its credentials, said once
// for a terminal: the operation, the status and the server's reason, then
// what to set. It unwraps to the *client.Error.
type refused struct {
	op, hint string
	err      *client.Error
}

func (r *refused) Error() string {
	if r.err.Status == 401 && strings.HasPrefix(r.err.Message, "missing credentials") {
		return fmt.Sprintf("%s: 401 missing credentials: set %s", r.op, r.hint)
	}
	// The server's reason, without the header syntax it may add for
	// HTTP clients: the hint says what to set.
	reason, _, _ := strings.Cut(r.err.Message, " (")
	return fmt.Sprintf("%s: %d %s: check %s", r.op, r.err.Status, reason, r.hint)
}

func (r *refused) Unwrap() error { return r.err }

// explainAuth turns a 401 or 403 from the server into a refused error for
// op, naming hint (the variable or flag that carries the credentials);
// other errors pass unchanged.
func explainAuth(err error, op, hint string) error {
	var ce *client.Error
	if err == nil || !errors.As(err, &ce) || ce.Status != 401 && ce.Status != 403 {
		return err
	}
	return &refused{op: op, hint: hint, err: ce}
}

const (
	keyHint   = "SSELOG_PUBLISHER_KEY (or --publisher-key)"
	tokenHint = "SSELOG_TOKEN (or --token; see sselog token)"
)
