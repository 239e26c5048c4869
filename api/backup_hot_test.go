package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/stream"
)

// fill appends about mb megabytes of events for user.
func fill(l *eventlog.Log, user string, mb int) error {
	big := `"` + strings.Repeat("x", 10_000) + `"`
	for range mb {
		batch := make([]eventlog.Input, 100)
		for i := range batch {
			batch[i] = eventlog.Input{User: user, Data: []byte(big)}
		}
		if _, err := l.AppendBatch(context.Background(), batch); err != nil {
			return err
		}
	}
	return nil
}

// A backup client that reads slowly must not freeze publishing: bbolt
// cannot grow the file (remap) under an open read transaction, and a
// snapshot streamed straight to the client holds one as long as the
// client takes. While a backup stalls, the file grows several times over
// and every publish completes.
func TestHotBackupDoesNotFreezePublishes(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.Stream = stream.Options{WriteTimeout: 5 * time.Minute} })
	require.NoError(t, fill(a.Log, "u", 3)) // about 3 MB

	conn, err := net.Dial("tcp", a.TS.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /v1/admin/backup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", testKey)
	require.NoError(t, err)
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = io.ReadFull(resp.Body, make([]byte, 1024)) // the backup has begun; now it stalls
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- fill(a.Log, "v", 30) }() // grows the file well past its mapping
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		_ = conn.Close() // ends the backup, so the test can end
		t.Fatal("publishing froze behind a stalled backup")
	}
	ans := a.do(t, http.MethodGet, "/healthz", nil)
	assert.Equal(t, http.StatusOK, ans.Status, "%s", ans.Body)

	// The stalled backup still completes, and is the snapshot it began.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	n, err := io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, resp.ContentLength, n+1024)
}

// /healthz reads no file, but reports a store whose commits are stuck
// (here: a snapshot reader that never reads holds the file against
// growth) as unhealthy, on GET and HEAD, and healthy again once they
// move.
func TestHealthzReportsStalledStore(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.StallAfter = 100 * time.Millisecond })
	require.NoError(t, fill(a.Log, "u", 1))
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	var wg sync.WaitGroup
	defer wg.Wait()
	defer free() // on failure too: the test must end
	wg.Go(func() {
		_, _ = a.Log.Snapshot(blockingWriter{release})
	})
	wg.Go(func() { assert.NoError(t, fill(a.Log, "v", 20)) })
	testkit.WaitFor(t, 30*time.Second, "healthz to report the stall", func() bool {
		return a.do(t, http.MethodGet, "/healthz", nil).Status == http.StatusServiceUnavailable
	})
	ans := a.do(t, http.MethodGet, "/healthz", nil)
	assert.Contains(t, string(ans.Body), "stalled")
	// HEAD answers as GET (a balancer probes with HEAD), and says so in
	// openapi.json.
	assert.Equal(t, http.StatusServiceUnavailable, a.do(t, http.MethodHead, "/healthz", nil).Status)
	b, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	assert.Contains(t, loadOpenAPI(t, b).documented()["HEAD /healthz"], http.StatusServiceUnavailable,
		"HEAD /healthz answers 503, undocumented")
	free()
	testkit.WaitFor(t, 30*time.Second, "healthz to recover", func() bool {
		return a.do(t, http.MethodGet, "/healthz", nil).Status == http.StatusOK
	})
}

// blockingWriter blocks its first write until release is closed.
type blockingWriter struct{ release chan struct{} }

func (b blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return len(p), nil
}
