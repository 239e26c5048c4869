package bench

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckTarget(t *testing.T) {
	for _, tc := range []struct {
		url  string
		ok   bool
		host string
	}{
		{"http://127.0.0.1:8080", true, "127.0.0.1:8080"},
		{"http://127.9.9.9:1", true, "127.9.9.9:1"},
		{"http://localhost:8080", true, "127.0.0.1:8080"},
		{"http://[::1]:8080", true, "[::1]:8080"},
		{"http://10.0.0.1:8080", false, ""},
		{"http://0.0.0.0:8080", false, ""},
		{"http://example.com", false, ""},
		{"https://127.0.0.1:8080", false, ""},
		{"127.0.0.1:8080", false, ""},
		{"http://", false, ""},
	} {
		u, err := checkTarget(tc.url)
		if !tc.ok {
			assert.Error(t, err, tc.url)
			continue
		}
		require.NoError(t, err, tc.url)
		assert.Equal(t, tc.host, u.Host)
	}
}

func TestSourceIPs(t *testing.T) {
	seen := map[string]bool{}
	for i := range uint32(100000) {
		ip := sourceIP(i)
		require.True(t, ip.IsLoopback(), ip.String())
		require.NotEqual(t, "127.0.0.1", ip.String())
		seen[ip.String()] = true
	}
	assert.Len(t, seen, 100000, "consecutive connections use distinct addresses")
}

// Connections really leave from the spread addresses.
func TestDialerSpreads(t *testing.T) {
	hosts := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		hosts <- host
	}))
	defer srv.Close()
	d := &dialer{base: 1000}
	for range 3 {
		c := httpClient(d, 1)
		resp, err := c.Get(srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		c.CloseIdleConnections()
	}
	got := map[string]bool{<-hosts: true, <-hosts: true, <-hosts: true}
	assert.Len(t, got, 3)
	for ip := range got {
		assert.True(t, strings.HasPrefix(ip, "127.") && ip != "127.0.0.1", ip)
	}
	_, err := d.DialContext(context.Background(), "tcp", "127.0.0.1:1")
	assert.Error(t, err)
}

func TestParseRSS(t *testing.T) {
	v, err := parseRSS(strings.NewReader("# HELP x\nprocess_resident_memory_bytes_other 1\nprocess_resident_memory_bytes 1.2345e+07\n"))
	require.NoError(t, err)
	assert.Equal(t, int64(12345000), v)
	_, err = parseRSS(strings.NewReader("go_goroutines 5\n"))
	assert.Error(t, err)
	_, err = parseRSS(strings.NewReader("process_resident_memory_bytes abc\n"))
	assert.Error(t, err)
}
