package bench

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

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
