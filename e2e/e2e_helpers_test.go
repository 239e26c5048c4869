package e2e

// Helpers for end-to-end tests through the real binary, shared by every
// root-package test (the browser test and fault-injection tests too):
// build once, start on a free loopback port, wait for /healthz, stop with
// SIGTERM (asserting exit 0) or SIGKILL, and read SSE with sse.Parser.

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// binary is built once per test process, in a directory TestMain removes.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		_ = os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// sselogBinary returns the path of the binary built from this checkout.
func sselogBinary(tb testing.TB) string {
	tb.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "sselog-e2e-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "sselog")
		cmd := exec.Command("go", "build", "-race", "-o", binary.path, "github.com/sselog/sselog")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(tb, binary.err)
	return binary.path
}

// server is one running sselog process.
type server struct {
	tb   testing.TB
	cmd  *exec.Cmd
	URL  string       // http://127.0.0.1:port (https with --tls-cert)
	Addr string       // 127.0.0.1:port
	HTTP *http.Client // a client for URL (trusting the test certificate)
	Data string       // the data file
	logs *testkit.SyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid after done

	addrc chan string // the address from the start line
	tls   bool
}

// startServer runs the binary on dataPath with a free loopback port and
// JSON logs, plus args, and waits until /healthz answers. SSELOG_
// variables of the test's own environment are not passed on.
func startServer(tb testing.TB, dataPath string, args ...string) *server {
	return startServerEnv(tb, dataPath, nil, args...)
}

// startServerEnv is startServer with extra environment ("K=V").
func startServerEnv(tb testing.TB, dataPath string, env []string, args ...string) *server {
	tb.Helper()
	return startServerWrapped(tb, sselogBinary(tb), dataPath, env, nil, args...)
}

// startServerBin is startServerEnv with another build of the binary.
func startServerBin(tb testing.TB, bin, dataPath string, env []string, args ...string) *server {
	tb.Helper()
	return startServerWrapped(tb, bin, dataPath, env, nil, args...)
}

// startServerWrapped is startServerBin with the binary run through
// wrapper, a command and its arguments (say prlimit --nofile=N:N --).
func startServerWrapped(tb testing.TB, bin, dataPath string, env, wrapper []string, args ...string) *server {
	tb.Helper()
	s := launchServer(tb, bin, dataPath, env, wrapper, args...)
	s.waitStarted(30 * time.Second)
	s.waitHealthy()
	return s
}

// launchServer starts the binary as startServerWrapped does without
// waiting for it: waitStarted then waits for its address.
func launchServer(tb testing.TB, bin, dataPath string, env, wrapper []string, args ...string) *server {
	tb.Helper()
	full := append([]string{bin, "serve", "--addr", "127.0.0.1:0", "--data", dataPath, "--log-format", "json"}, args...)
	full = append(slices.Clone(wrapper), full...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Env = append(cleanEnv(), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(tb, err)
	s := &server{tb: tb, cmd: cmd, Data: dataPath, logs: &testkit.SyncBuffer{}, done: make(chan struct{})}
	require.NoError(tb, cmd.Start())
	s.addrc = make(chan string, 1)
	addrc := s.addrc
	go func() {
		// Wait closes the pipe: only once every line is read, or the
		// last ones (the shutdown's) could be lost.
		s.readLogs(stderr, addrc)
		s.err = cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.Kill()
		}
	})
	s.tls = slices.Contains(args, "--tls-cert")
	return s
}

// waitStarted waits up to d for the "sselog started" line and sets the
// server's address.
func (s *server) waitStarted(d time.Duration) {
	tb := s.tb
	tb.Helper()
	select {
	case s.Addr = <-s.addrc:
	case <-s.done:
		tb.Fatalf("sselog exited at start: %v\n%s", s.err, s.logs)
	case <-time.After(d):
		tb.Fatalf("sselog did not log its address within %s\n%s", d, s.logs)
	}
	s.URL, s.HTTP = "http://"+s.Addr, http.DefaultClient
	if s.tls {
		// Loopback only, with a certificate the test made: skip
		// verification rather than plumb its pool through.
		s.URL = "https://" + s.Addr
		s.HTTP = &http.Client{Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test's own certificate
			ForceAttemptHTTP2: true,
		}}
	}
}

// readLogs copies stderr into s.logs and sends the address from the
// "sselog started" line.
func (s *server) readLogs(r io.Reader, addrc chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		s.logs.Write(append(line, '\n'))
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "sselog started" && rec.Addr != "" {
			select {
			case addrc <- rec.Addr:
			default:
			}
		}
	}
}

func (s *server) waitHealthy() {
	s.tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		resp, err := s.HTTP.Get(s.URL + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-deadline:
			s.tb.Fatalf("sselog at %s not healthy within 10 s (last error %v)\n%s", s.URL, err, s.logs)
		case <-s.done:
			s.tb.Fatalf("sselog exited: %v\n%s", s.err, s.logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM and requires a clean exit (status 0) within 20 s.
func (s *server) Stop() {
	s.tb.Helper()
	require.NoError(s.tb, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.Kill()
		s.tb.Fatalf("sselog did not exit within 20 s of SIGTERM\n%s", s.logs)
	}
	require.NoError(s.tb, s.err, "exit status after SIGTERM\n%s", s.logs)
}

// Kill sends SIGKILL, as a crash would, and waits for the process to go.
func (s *server) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.tb.Errorf("sselog did not exit within 10 s of SIGKILL")
	}
}

// Logs returns what the process has written to stderr so far.
func (s *server) Logs() string { return s.logs.String() }

// Exited is closed when the process has exited.
func (s *server) Exited() <-chan struct{} { return s.done }

// cleanEnv is the test's environment without SSELOG_ variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSELOG_") {
			env = append(env, kv)
		}
	}
	return env
}
