package cli

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestListenLoopbackChecksTheSocket: what must be loopback (open mode,
// pprof) is checked on the bound socket, not the address string, so a
// name that resolves to every interface is refused.
func TestListenLoopbackChecksTheSocket(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true,
		"localhost:0": true,
		"0.0.0.0:0":   false,
		"[::]:0":      false,
		":0":          false,
	} {
		ln, err := listenLoopback("test", addr)
		if ok {
			require.NoError(t, err, addr)
			require.NoError(t, ln.Close())
			continue
		}
		require.Error(t, err, addr)
		assert.Contains(t, err.Error(), "loopback", addr)
	}
}

// TestPprofNeverServesTheCommandLine: the profiler's listener is a bound
// loopback socket, and /debug/pprof/cmdline (the command line, keys given
// as flags included) is not served.
func TestPprofNeverServesTheCommandLine(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, _, err := startPprof("0.0.0.0:0", logger)
	require.Error(t, err)
	stop, addr, err := startPprof("127.0.0.1:0", logger)
	require.NoError(t, err)
	defer func() { _ = stop() }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, body := get("/debug/pprof/cmdline")
	assert.Equal(t, http.StatusNotFound, code)
	assert.NotContains(t, body, os.Args[0])
	code, body = get("/debug/pprof/")
	assert.Equal(t, http.StatusOK, code)
	assert.False(t, strings.Contains(body, "cmdline"), "the index does not offer it either")
	code, _ = get("/debug/pprof/heap?debug=1")
	assert.Equal(t, http.StatusOK, code)
}
