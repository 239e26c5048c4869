package api

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
	"github.com/sselog/sselog/stream"
)

// TestHistoryStalledReaderIsCut: a client that asks for a large history
// page and never reads it is cut after the write timeout instead of
// pinning the page (and the connection) for ever.
func TestHistoryStalledReaderIsCut(t *testing.T) {
	var logs testkit.SyncBuffer
	a := newTestAPILog(t, eventlog.Options{PageBytes: 32 << 20}, withKeys, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.Stream = stream.Options{Heartbeat: time.Hour, WriteTimeout: 300 * time.Millisecond}
	})
	big := `{"data":"` + strings.Repeat("x", 60<<10) + `"}`
	for range 160 { // ~10 MB: more than loopback's socket buffers hold
		require.Equal(t, http.StatusCreated, a.publish(t, "/v1/users/alice/events", big).Status)
	}
	c, err := net.Dial("tcp", strings.TrimPrefix(a.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.(*net.TCPConn).SetReadBuffer(4096))
	_, err = fmt.Fprintf(c, "GET /v1/users/alice/events?limit=10000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", token(t, "alice"))
	require.NoError(t, err)
	// Never read: the server's writes stall once the buffers are full.
	t.Cleanup(func() { t.Log(logs.String()) })
	testkit.WaitFor(t, 20*time.Second, "the stalled history answer to be cut", func() bool {
		return strings.Contains(logs.String(), "history answer cut")
	})
}
