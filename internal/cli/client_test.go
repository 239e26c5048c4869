package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/internal/testkit"
)

const (
	testKey    = "cli-test-publisher-key-0123456789abcdef"
	testSecret = "cli-test-subscriber-secret-0123456789ab"
)

// testServer runs the real API over a real log, with keys.
func testServer(t *testing.T) string {
	t.Helper()
	a, err := api.New(eventlogtest.Open(t, eventlog.Options{}), api.Config{PublisherKey: testKey, SubscriberSecret: testSecret})
	require.NoError(t, err)
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		a.CloseStreams()
		ts.Close()
	})
	return ts.URL
}

// TestErrorsSayEachThingOnce: a refused request is reported as the
// operation, the status and the server's reason once, then what to set;
// main adds the one "sselog: " prefix.
func TestErrorsSayEachThingOnce(t *testing.T) {
	url := testServer(t)
	out := filepath.Join(t.TempDir(), "b.db")
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"publish without a key", []string{"publish", "--url", url, "--user", "alice", "--data", "1"}, nil,
			"publish: 401 missing credentials: set SSELOG_PUBLISHER_KEY (or --publisher-key)"},
		{"publish with a wrong key", []string{"publish", "--url", url, "--user", "alice", "--data", "1"}, []string{"SSELOG_PUBLISHER_KEY=wrong"},
			"publish: 401 invalid credentials: wrong publisher key: check SSELOG_PUBLISHER_KEY (or --publisher-key)"}, // RFC 6750: a refused credential
		{"backup without a key", []string{"backup", "--url", url, "-o", out}, nil,
			"backup: 401 missing credentials: set SSELOG_PUBLISHER_KEY (or --publisher-key)"},
		{"tail without a token", []string{"tail", "--url", url, "--user", "alice"}, nil,
			`tail: 401 missing credentials: set SSELOG_TOKEN (or --token; see sselog token)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Run(ctx, c.args, testkit.Env(c.env...), &bytes.Buffer{}, &bytes.Buffer{})
			require.Error(t, err)
			assert.Equal(t, c.want, err.Error())
		})
	}
}

// TestTailFromTakesAnIDOrZero: --from is an event id or 0; anything else
// is a usage error before any request.
func TestTailFromTakesAnIDOrZero(t *testing.T) {
	for _, from := range []string{"latest", "1", "01J0000000000000000000000", "-1"} {
		t.Run(from, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Run(ctx, []string{"tail", "--url", "http://127.0.0.1:1", "--user", "alice", "--from", from},
				testkit.Env(), &bytes.Buffer{}, &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "--from")
			assert.NotContains(t, err.Error(), "connect", "a request was made")
		})
	}
}

// TestBackupProgressOnlyOnATerminal: the progress bar is drawn only when
// stderr is a terminal; in a pipe or a log it is noise.
func TestBackupProgressOnlyOnATerminal(t *testing.T) {
	url := testServer(t)
	var stdout, stderr bytes.Buffer
	out := filepath.Join(t.TempDir(), "b.db")
	require.NoError(t, Run(context.Background(), []string{"backup", "--url", url, "-o", out},
		testkit.Env("SSELOG_PUBLISHER_KEY="+testKey), &stdout, &stderr))
	assert.Contains(t, stdout.String(), "backup "+out)
	assert.NotContains(t, stderr.String(), "#")
	assert.NotContains(t, stderr.String(), "\r")
	assert.False(t, strings.Contains(stderr.String(), "100%"), "stderr: %q", stderr.String())
}
