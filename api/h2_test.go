package api

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
	"github.com/sselog/sselog/stream"
)

// TestHTTP2IdleStreamOutlivesWriteTimeout: over HTTP/2 a write deadline
// that passes while a stream idles resets the stream. With a heartbeat
// longer than the write timeout, an idle stream must still get its
// heartbeats and its events, not a reset.
func TestHTTP2IdleStreamOutlivesWriteTimeout(t *testing.T) {
	lg := eventlogtest.Open(t, eventlog.Options{})
	srv, err := New(lg, Config{Stream: stream.Options{WriteTimeout: 300 * time.Millisecond, Heartbeat: 500 * time.Millisecond}})
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(func() { srv.CloseStreams(); ts.Close() })

	resp, err := ts.Client().Get(ts.URL + "/v1/users/alice/stream")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 2, resp.ProtoMajor)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	br := bufio.NewReader(resp.Body)
	beats := 0
	for beats < 4 { // 2 s of idling, each gap longer than the write timeout
		line, err := br.ReadString('\n')
		require.NoError(t, err, "the idle stream was reset after %d heartbeats", beats)
		if strings.HasPrefix(line, ": heartbeat") {
			beats++
		}
	}
}
