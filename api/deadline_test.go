package api

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeclaredBodyNeverSent: a request that declares a body and never
// sends it is answered and its connection closed by the server within
// the read timeout, whatever the route and with or without credentials;
// early error answers close the connection at once.
func TestDeclaredBodyNeverSent(t *testing.T) {
	const readTimeout = 500 * time.Millisecond
	a := newTestAPI(t, withKeys, func(c *Config) { c.ReadTimeout = readTimeout })
	host := strings.TrimPrefix(a.URL, "http://")
	cases := []struct {
		name   string
		head   string
		status int
	}{
		{"health with a body", "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 400},
		{"history with a body", "GET /v1/users/alice/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 400},
		{"publish without key", "POST /v1/broadcast HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 401},
		{"publish with a wrong key", "POST /v1/broadcast HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Length: 100\r\n\r\n", 401},
		{"publish, chunked, without key", "POST /v1/users/alice/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 401},
		{"publish with key, body never comes", "POST /v1/broadcast HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + testKey + "\r\nContent-Length: 100\r\n\r\n{\"da", 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", host)
			require.NoError(t, err)
			defer conn.Close()
			_, err = io.WriteString(conn, c.head)
			require.NoError(t, err)
			// Bounded by the test, not the server: 10 s is 20x the read
			// timeout, a hung connection fails here.
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err, "no answer")
			assert.Equal(t, c.status, resp.StatusCode)
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			_, err = br.ReadByte()
			require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the server kept the connection open")
			assert.ErrorIs(t, err, io.EOF, "the server closes the connection")
		})
	}
}

// TestLongAnswersOutliveReadTimeout: the read deadline bounds requests,
// not the answers that legitimately run long: a stream stays open past
// it, and still delivers.
func TestLongAnswersOutliveReadTimeout(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	a := newTestAPI(t, withKeys, func(c *Config) {
		c.ReadTimeout = readTimeout
		c.Stream.Heartbeat = 50 * time.Millisecond
	})
	req, err := http.NewRequest(http.MethodGet, a.URL+"/v1/users/alice/stream?token="+token(t, "alice"), nil)
	require.NoError(t, err)
	resp, err := a.TS.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	br := bufio.NewReader(resp.Body)
	// Heartbeats keep coming well past the read timeout.
	for end := time.Now().Add(4 * readTimeout); time.Now().Before(end); {
		_, err := br.ReadString('\n')
		require.NoError(t, err, "the stream ended")
	}
	ans := a.publish(t, "/v1/users/alice/events", `{"data":"late"}`)
	require.Equal(t, http.StatusCreated, ans.Status)
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err, "the stream ended")
		if strings.HasPrefix(line, "data:") {
			assert.Contains(t, line, "late")
			return
		}
	}
}
