package bench

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// TestFloorCeilingCommitsEachPublish: the floor's server commits every
// publish to its bbolt file before it answers, and answers 503 when the
// commit fails.
func TestFloorCeilingCommitsEachPublish(t *testing.T) {
	db, err := openBare(filepath.Join(t.TempDir(), "floor.db"))
	require.NoError(t, err)
	defer db.Close()
	c := NewCeiling(0, 0)
	var seq atomic.Uint64
	var fail atomic.Bool
	c.commit = func(data []byte) error {
		if fail.Load() {
			return errors.New("disk gone")
		}
		return commitBare(db, seq.Add(1), data)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	for i := range 3 {
		resp, err := http.Post(srv.URL+"/v1/users/u/events", "application/json", strings.NewReader(`{"data":{"n":1}}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode, "publish %d", i)
	}
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		require.Equal(t, 3, tx.Bucket([]byte("events")).Stats().KeyN)
		return nil
	}))
	fail.Store(true)
	resp, err := http.Post(srv.URL+"/v1/users/u/events", "application/json", strings.NewReader(`{"data":1}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

// TestProcessCPU: the CPU time read from /proc grows as this process
// works, and a process that is gone reads as unknown.
func TestProcessCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	before, ok := processCPU(os.Getpid())
	require.True(t, ok)
	deadline := time.Now().Add(time.Minute)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		now, ok := processCPU(os.Getpid())
		require.True(t, ok)
		if now > before {
			break
		}
		require.True(t, time.Now().Before(deadline), "CPU time never grew (x=%d)", x)
	}
	_, ok = processCPU(1 << 30)
	require.False(t, ok)
}
