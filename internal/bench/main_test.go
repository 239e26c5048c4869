package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/sselog/sselog/api"
	"github.com/sselog/sselog/eventlog"
)

// roleEnv makes the test binary act as a child a run starts: "bench" is
// `sselog bench ...` (ceiling-server, connections-child), "serve" is the
// real server (the api over an eventlog, as `sselog serve` runs it).
const roleEnv = "SSELOG_BENCH_TEST_ROLE"

func TestMain(m *testing.M) {
	role := os.Getenv(roleEnv)
	if role == "" {
		os.Exit(m.Run())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch role {
	case "bench":
		err = Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	case "serve":
		err = serveReal(ctx, os.Args[1:])
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		stop()
		os.Exit(1)
	}
}

// serveReal is the test binary standing in for `sselog serve --data F
// --addr A --max-events N`: the real api over a real log.
func serveReal(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	data := fs.String("data", "", "")
	addr := fs.String("addr", "", "")
	maxEvents := fs.Int("max-events", 10000, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lg, err := eventlog.Open(*data, eventlog.Options{MaxEvents: *maxEvents})
	if err != nil {
		return err
	}
	defer lg.Close()
	srv, err := api.New(lg, api.Config{})
	if err != nil {
		return err
	}
	hs := &http.Server{Addr: *addr, Handler: srv.Handler()}
	hs.RegisterOnShutdown(srv.CloseStreams)
	done := make(chan error, 1)
	go func() { done <- hs.ListenAndServe() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// testEnv runs children as this test binary in a role.
func testEnv(t *testing.T, stdout io.Writer) env {
	child := func(role string) func(ctx context.Context, args ...string) *exec.Cmd {
		return func(ctx context.Context, args ...string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, os.Args[0], args...)
			cmd.Env = append(os.Environ(), roleEnv+"="+role)
			return cmd
		}
	}
	return env{
		stdout: stdout,
		stderr: testWriter{t},
		getenv: func(string) string { return "" },
		self:   child("bench"),
		server: child("serve"),
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// jsonReport is what --json prints.
type jsonReport struct {
	Scenario string               `json:"scenario"`
	Results  []jsonResult         `json:"results"`
	Ratios   map[string]float64   `json:"ratios"`
	Floor    map[string]float64   `json:"floor"`
	Notes    []string             `json:"notes"`
	Spread   map[string][]float64 `json:"spread"`
	OK       bool                 `json:"ok"`
}

// runJSON runs a scenario with --json and returns the decoded report and
// the run's error.
func runJSON(t *testing.T, args ...string) (jsonReport, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	err := run(ctx, testEnv(t, &out), append(args, "--json"))
	var rep jsonReport
	if out.Len() > 0 {
		require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	}
	return rep, err
}

// ceilingServer serves a ceiling in-process.
func ceilingServer(t *testing.T, c *Ceiling) string {
	t.Helper()
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL
}

// realServer serves the real stack in-process over a bbolt file in a
// temp dir, checked for consistency at cleanup.
func realServer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sselog.db")
	lg, err := eventlog.Open(path, eventlog.Options{})
	require.NoError(t, err)
	srv, err := api.New(lg, api.Config{})
	require.NoError(t, err)
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Config.RegisterOnShutdown(srv.CloseStreams)
	hs.Start()
	t.Cleanup(func() {
		srv.CloseStreams()
		hs.CloseClientConnections()
		hs.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.WaitStreams(ctx))
		require.NoError(t, lg.Close())
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		require.NoError(t, err)
		defer db.Close()
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			var errs []error
			for err := range tx.Check() {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		}))
	})
	return hs.URL
}

// metricOf returns a metric of the only (or named) target's result.
func metricOf(t *testing.T, rep jsonReport, target, key string) float64 {
	t.Helper()
	for _, r := range rep.Results {
		if r.Target == target {
			v, ok := r.Metrics[key]
			require.True(t, ok, "no metric %s in %v", key, r.Metrics)
			return v
		}
	}
	t.Fatalf("no result for %s in %+v", target, rep)
	return 0
}
