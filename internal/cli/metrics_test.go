package cli

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/internal/testkit"
)

// TestMetricsAddr: with --metrics-addr, /metrics is served there and not
// on the public address.
func TestMetricsAddr(t *testing.T) {
	var stderr testkit.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "s.db"), "--log-format", "json"},
			testkit.Env("SSELOG_PUBLISHER_KEY="+goodKey, "SSELOG_SUBSCRIBER_SECRET="+goodSecret), &bytes.Buffer{}, &stderr)
	}()
	field := func(name string) string {
		logs, key := stderr.String(), `"`+name+`":"`
		i := strings.LastIndex(logs, key) // the bound address comes after the configured one
		if i < 0 {
			return ""
		}
		v, _, _ := strings.Cut(logs[i+len(key):], `"`)
		return v
	}
	testkit.WaitFor(t, 10*time.Second, "the server logs its addresses", func() bool {
		return field("metrics_addr") != "" && !strings.HasSuffix(field("metrics_addr"), ":0") && field("addr") != ""
	})
	get := func(url string) int {
		resp, err := http.Get(url)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusNotFound, get("http://"+field("addr")+"/metrics"), stderr.String())
	assert.Equal(t, http.StatusOK, get("http://"+field("metrics_addr")+"/metrics"))
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
