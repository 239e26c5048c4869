package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// target is one server a scenario drives.
type target struct {
	kind   string // "server", "ceiling" or "floor" (the ceiling committing each publish)
	base   *url.URL
	pubKey string
	tokens tokens
	dial   *dialer
	env    env
	common *common
	stop   func()
	pid    int // the child process, 0 for a server given by --url
}

// startTarget resolves or starts the server of the given kind. Each
// target gets its own block of source addresses (dialBase).
func startTarget(ctx context.Context, e env, c *common, kind string, dialBase uint32) (*target, error) {
	t := &target{kind: kind, env: e, common: c, dial: &dialer{base: dialBase}, stop: func() {}}
	switch {
	case kind == "ceiling", kind == "floor":
		args, dir := []string{"--ring", strconv.Itoa(c.ring)}, ""
		if kind == "floor" {
			var err error
			if dir, err = os.MkdirTemp("", "sselog-bench-floor-*"); err != nil {
				return nil, fmt.Errorf("temp dir: %w", err)
			}
			args = append(args, "--commit-file", filepath.Join(dir, "floor.db"))
		}
		cmd := e.self(ctx, append([]string{"ceiling-server"}, args...)...)
		if err := t.startChild(ctx, cmd, nil, dir); err != nil {
			return nil, fmt.Errorf("start %s server: %w", kind, err)
		}
		return t, nil
	case c.spawn:
		t.pubKey, t.tokens = c.pubKey, tokens{[]byte(c.subSecret)}
		if err := t.spawnServer(ctx); err != nil {
			return nil, fmt.Errorf("spawn server: %w", err)
		}
		return t, nil
	}
	u, err := checkTarget(c.url)
	if err != nil {
		return nil, err
	}
	t.base, t.pubKey, t.tokens = u, c.pubKey, tokens{[]byte(c.subSecret)}
	return t, t.waitReady(ctx, nil, nil)
}

// spawnServer starts the real server on a fresh data file. --max-events 0
// lifts the per-user cap so a long resume log is kept whole.
func (t *target) spawnServer(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "sselog-bench-*")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	cmd := t.env.server(ctx, append([]string{"--data", filepath.Join(dir, "sselog.db"), "--max-events", "0"}, t.common.serverFlags...)...)
	var extra []string
	if t.pubKey != "" || len(t.tokens.secret) > 0 {
		// Keys go through the environment, not argv, where ps shows them.
		extra = []string{"SSELOG_PUBLISHER_KEY=" + t.pubKey, "SSELOG_SUBSCRIBER_SECRET=" + string(t.tokens.secret)}
	}
	if err := t.startChild(ctx, cmd, extra, dir); err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	return nil
}

// startChild runs cmd with --addr on a free loopback port appended, its
// output in a log file, and waits for /healthz. The child gets SIGTERM at
// stop (SIGKILL if this process dies) and dir is removed after it.
func (t *target) startChild(ctx context.Context, cmd *exec.Cmd, extraEnv []string, dir string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cmd.Args = append(cmd.Args, "--addr", addr)
	cmd.Env = append(cmd.Environ(), extraEnv...)
	logFile, err := os.CreateTemp(dir, "child-*.log")
	if err != nil {
		return fmt.Errorf("child log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	// exited is closed once the child is reaped; waitErr is valid then.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.base, t.pid = &url.URL{Scheme: "http", Host: addr}, cmd.Process.Pid
	t.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logFile.Close()
		_ = os.Remove(logFile.Name())
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
	exitErr := func() error { <-exited; return waitErr }
	if err := t.waitReady(ctx, exited, exitErr); err != nil {
		out := tail(logFile.Name()) // before stop removes the file
		t.stop()
		return fmt.Errorf("%w; child output:\n%s", err, out)
	}
	return nil
}

// waitReady polls /healthz until it answers 200, for at most 20 s, or
// until a child it started exits (exited closed, exitErr says how).
func (t *target) waitReady(ctx context.Context, exited <-chan struct{}, exitErr func() error) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.After(20 * time.Second)
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base.String()+"/healthz", nil)
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("healthz: %s", resp.Status)
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready: %v", t.kind, exitErr())
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("%s at %s not ready after 20s: %w", t.kind, t.base, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr, nil
}

// tail returns the last lines of a child's log, for an error message.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// post sends a JSON body to path and decodes a 201 answer into out.
func (t *target) post(ctx context.Context, c *http.Client, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base.String()+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if t.pubKey != "" {
		req.Header.Set("Authorization", "Bearer "+t.pubKey)
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("POST %s: read answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b[:min(len(b), 300)])))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("POST %s: decode answer: %w", path, err)
	}
	return nil
}

// rss reads the server's process_resident_memory_bytes from /metrics.
func (t *target) rss(ctx context.Context) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base.String()+"/metrics", nil)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read metrics: %s", resp.Status)
	}
	return parseRSS(resp.Body)
}

// parseRSS finds process_resident_memory_bytes in Prometheus text.
func parseRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || name != "process_resident_memory_bytes" {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return 0, fmt.Errorf("metrics: process_resident_memory_bytes %q: %w", value, err)
		}
		return int64(f), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	return 0, errors.New("metrics: no process_resident_memory_bytes (is this sselog?)")
}

// serveCeiling is the hidden `ceiling-server` scenario: the child a
// --ceiling run starts. It serves until ctx ends (SIGTERM in sselog's
// main).
func serveCeiling(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet("sselog bench ceiling-server", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	ring := fs.Int("ring", 1<<20, "events kept in memory for replay")
	heartbeat := fs.Duration("heartbeat", 15*time.Second, "heartbeat interval")
	commitFile := fs.String("commit-file", "", "commit each publish to this bbolt file first, as one bare transaction (the floor)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("ceiling server: %w", err)
	}
	ceiling := NewCeiling(*ring, *heartbeat)
	if *commitFile != "" {
		db, err := openBare(*commitFile)
		if err != nil {
			return fmt.Errorf("ceiling server: %w", err)
		}
		defer db.Close()
		var seq atomic.Uint64
		ceiling.commit = func(data []byte) error { return commitBare(db, seq.Add(1), data) }
	}
	if _, err := checkTarget("http://" + *addr); err != nil {
		return fmt.Errorf("ceiling server: %w", err)
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("ceiling server: %w", err)
	}
	srv := &http.Server{Handler: ceiling.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stderr, "ceiling server listening on %s\n", l.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("ceiling server: %w", err)
	case <-ctx.Done():
	}
	// Streams never end by themselves: close rather than wait for them.
	_ = srv.Close()
	<-done
	return nil
}
