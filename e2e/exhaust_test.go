//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStreamsCannotExhaustFiles: with the process's file limit lowered to
// 256 (prlimit, rather than opening 20,000 sockets), streams opened as
// fast as a client can are refused with 429 before the files run out, so
// health checks, publishes and backups on new connections still work.
// Before the caps, the 250th stream took the last file and the server
// stopped accepting.
func TestStreamsCannotExhaustFiles(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prlimit (util-linux) is required in CI; .ci/run installs it")
		}
		t.Skip("prlimit (util-linux) not installed")
	}
	s := startServerWrapped(t, sselogBinary(t), t.TempDir()+"/sselog.db", nil, []string{prlimit, "--nofile=256:256", "--"},
		"--max-streams-per-user", "4")
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}

	// Per-user cap first: the fifth stream of one user is refused.
	var streams []io.Closer
	defer func() {
		for _, c := range streams {
			_ = c.Close()
		}
	}()
	open := func(user string) (int, string) {
		conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		require.NoError(t, err, "dial after %d streams", len(streams))
		require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
		_, err = fmt.Fprintf(conn, "GET /v1/users/%s/stream HTTP/1.1\r\nHost: %s\r\n\r\n", user, s.Addr)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err, "no answer after %d streams", len(streams))
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			_ = conn.Close()
			assert.NotEmpty(t, resp.Header.Get("Retry-After"))
			assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
			return resp.StatusCode, string(b)
		}
		streams = append(streams, conn)
		return resp.StatusCode, ""
	}
	for range 4 {
		code, _ := open("same")
		require.Equal(t, http.StatusOK, code)
	}
	code, body := open("same")
	require.Equal(t, http.StatusTooManyRequests, code, body)

	// Then the global cap, long before 256 files are open.
	refused := false
	for i := 0; i < 300 && !refused; i++ {
		code, body := open(fmt.Sprintf("u%d", i/4))
		if code == http.StatusTooManyRequests {
			refused = true
			assert.Contains(t, body, "maximum")
		} else {
			require.Equal(t, http.StatusOK, code)
		}
	}
	require.True(t, refused, "no 429 after %d streams", len(streams))
	t.Logf("global cap reached at %d streams under a limit of 256 files", len(streams))

	// What the reserve is for: new connections still get their answers.
	for range 20 {
		resp, err := hc.Get(s.URL + "/healthz")
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp, err = hc.Post(s.URL+"/v1/users/same/events", "application/json", strings.NewReader(`{"data":1}`))
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/admin/backup", nil)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Positive(t, n)

	for _, c := range streams {
		_ = c.Close()
	}
	streams = nil
	s.Stop()
}

// TestDeclaredBodyCutByTheBinary: the built server, in open mode, cuts a
// publish whose declared body never comes at --read-timeout and closes
// the connection, and a GET with a declared body is answered at once.
func TestDeclaredBodyCutByTheBinary(t *testing.T) {
	s := startServer(t, t.TempDir()+"/sselog.db", "--read-timeout", "1s")
	for _, head := range []string{
		"POST /v1/broadcast HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"data\":",
		"GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n",
	} {
		conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		require.NoError(t, err)
		_, err = io.WriteString(conn, head)
		require.NoError(t, err)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err, "no answer to %q", head)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		_, _ = io.Copy(io.Discard, resp.Body)
		_, err = br.ReadByte()
		assert.ErrorIs(t, err, io.EOF, "the server closes the connection")
		_ = conn.Close()
	}
	s.Stop()
}
