package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/stream"
)

// A backup client that stops reading holds the snapshot's read
// transaction; the per-write deadline must cut it, so it cannot hold the
// file against growth for long.
func TestBackupStalledClientIsCut(t *testing.T) {
	a := newTestAPI(t, withKeys, func(c *Config) { c.Stream = stream.Options{WriteTimeout: 200 * time.Millisecond} })
	big := `"` + strings.Repeat("x", 10_000) + `"`
	for range 30 { // about 30 MB: more than loopback socket buffers hold
		batch := make([]eventlog.Input, 100)
		for i := range batch {
			batch[i] = eventlog.Input{User: "u", Data: []byte(big)}
		}
		_, err := a.Log.AppendBatch(context.Background(), batch)
		require.NoError(t, err)
	}

	// The handler returns once the write deadline has cut the copy (the
	// client reads nothing until then); wait for that rather than for a
	// fixed time, which a loaded machine may not give the server.
	returned := make(chan struct{})
	h := a.Srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path == "/v1/admin/backup" {
			close(returned)
		}
	}))
	t.Cleanup(ts.Close)

	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /v1/admin/backup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", testKey)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	size, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	require.NoError(t, err)

	select { // stall: the server's writes block past their deadline
	case <-returned:
	case <-time.After(30 * time.Second):
		t.Fatal("the backup handler still runs 30 s after its client stopped reading")
	}

	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	n, err := io.Copy(io.Discard, resp.Body)
	require.Error(t, err, "the body must end short, not complete")
	require.Less(t, n, size, "a stalled backup must be cut")

	// Publishing goes on afterwards.
	_, err = a.Log.Append(context.Background(), eventlog.Input{User: "u", Data: []byte(`1`)})
	require.NoError(t, err)
}
