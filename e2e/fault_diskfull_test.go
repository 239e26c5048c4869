//go:build linux

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
)

// mountTmpfs mounts a tmpfs of size (mount's -o size=, e.g. "4m") on a
// fresh temp dir and unmounts it at cleanup. Without root it skips,
// loudly; under CI=true it fails instead, so CI cannot silently lose the
// test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size)
	if err != nil {
		msg := fmt.Sprintf("DISK-FULL TEST NOT RUN: mounting a %s tmpfs on %s needs root (euid %d): %v", size, dir, os.Geteuid(), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// remountTmpfs changes a mounted tmpfs's size: space returns at once.
func remountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	require.NoError(t, syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size="+size), "remount %s with size=%s", dir, size)
}

// TestFaultDiskFull: the data file lives on a 4 MiB tmpfs that fills up.
// Publishes then answer 503 with a JSON error and store nothing; every
// event acknowledged before stays readable (history, streams, a backup
// that passes bbolt's check); and once the filesystem is grown the same
// process takes publishes again, its live subscribers get them, and new
// subscribers resume exactly. After a clean stop the file passes bbolt's
// check and holds exactly what was acknowledged.
func TestFaultDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "4m")
	data := filepath.Join(dir, "sselog.db")
	s := startServer(t, data, "--retention", "0", "--max-events", "0", "--retry", "20ms")
	c, err := client.New(s.URL)
	require.NoError(t, err)
	users := []string{"alice", "bob"}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	live := newFollower(s.URL, "alice", eventlog.ZeroID.String(), true)
	go live.run(fctx)
	fs := []*follower{live, tailFollower(fctx, s.URL, "bob", eventlog.ZeroID.String())}

	// Fill: 32 KiB events until the filesystem refuses one.
	fill := newPublisher("fill", c, []string{"alice", "bob", ""}, false)
	pad := strings.Repeat("x", 32<<10)
	full := false
	for n := 0; n < 1000 && !full; n++ {
		pl := payload{P: fill.name, N: n}
		a := fill.track(pl, fill.targets[n%3])
		status, body := rawPublish(t, s.URL, a.user, pl, pad)
		switch status {
		case http.StatusCreated:
			var out struct{ ID string }
			require.NoError(t, json.Unmarshal(body, &out))
			a.id = out.ID
			fill.acked++
		case http.StatusServiceUnavailable:
			assert.JSONEq(t, `{"error":"store unavailable"}`, string(body))
			fill.failed++
			full = true
		default:
			t.Fatalf("publish %d while filling: %d %s", n, status, body)
		}
	}
	require.True(t, full, "1000 publishes of 32 KiB fit on a 4 MiB filesystem?")
	require.Greater(t, fill.acked, 50, "the filesystem filled before it held much")
	t.Logf("full after %d acknowledged events of 32 KiB; data file %d bytes", fill.acked, fileSize(data))
	waitLog(t, s, "no space left on device", 10*time.Second) // the 503 comes from ENOSPC

	// A few more refusals while full: each leaves the store as it was.
	refusals := 0
	for n := 1000; n < 1005; n++ {
		pl := payload{P: fill.name, N: n}
		a := fill.track(pl, "alice")
		if status, body := rawPublish(t, s.URL, a.user, pl, strings.Repeat("y", 60<<10)); status == http.StatusCreated {
			var out struct{ ID string }
			require.NoError(t, json.Unmarshal(body, &out))
			a.id = out.ID // freed pages can still take one
		} else {
			require.Equal(t, http.StatusServiceUnavailable, status, "%s", body)
			refusals++
		}
	}
	require.Positive(t, refusals, "a full filesystem must refuse 60 KiB events")

	// Nothing acknowledged is damaged: history, streams, a backup.
	acked := fill.ackedFor(users)
	for _, u := range users {
		require.Equal(t, acked[u], historyIDs(t, c, u), "history of %s while the disk is full", u)
	}
	for _, f := range fs {
		f.waitFor(t, acked[f.user][len(acked[f.user])-1], 30*time.Second)
	}
	snap := filepath.Join(t.TempDir(), "full.db")
	backupTo(t, c, snap)
	checkBolt(t, snap)

	// Space returns: the same process takes publishes again.
	remountTmpfs(t, dir, "64m")
	after := newPublisher("after", c, []string{"alice", "bob", ""}, false)
	for n := range 60 {
		pl := payload{P: after.name, N: n}
		a := after.track(pl, after.targets[n%3])
		status, body := rawPublish(t, s.URL, a.user, pl, pad[:(n%4)*8<<10])
		require.Equal(t, http.StatusCreated, status, "publish %d after space returned: %s", n, body)
		var out struct{ ID string }
		require.NoError(t, json.Unmarshal(body, &out))
		a.id = out.ID
		after.acked++
	}
	acked = after.ackedFor(users)
	// New subscribers resume exactly from a point inside the full phase.
	mid := fill.tries[payload{P: fill.name, N: fill.acked / 2}.tag()].id
	for _, u := range users {
		q := newFollower(s.URL, u, mid, true)
		go q.run(fctx)
		fs = append(fs, q, tailFollower(fctx, s.URL, u, mid))
	}
	for _, f := range fs {
		f.waitFor(t, acked[f.user][len(acked[f.user])-1], 30*time.Second)
	}
	stopFollowers(t, fcancel, fs)
	s.Stop()

	ix := indexLog(t, data, users)
	require.Zero(t, checkPublishers(t, ix, []*publisher{fill, after}), "a 503 must store nothing")
	checkFollowers(t, ix, fs[:2])
	for _, f := range fs[2:] {
		got, gaps, _ := f.received()
		want := eventIDs(ix.byUser[f.user])
		want = want[indexAfter(want, mid):]
		assert.Empty(t, gaps)
		assert.Equal(t, want, got, "follower of %s resuming from %s (query=%v)", f.user, mid, f.viaQuery)
	}
	t.Logf("after space returned: %d more events; %d refused while full; final file %d bytes", after.acked, fill.failed+refusals, fileSize(data))
}

// rawPublish posts {"event":"fault","data":{p,n,pad}} to user ("" =
// broadcast) and returns the status and body.
func rawPublish(t *testing.T, base, user string, pl payload, pad string) (int, []byte) {
	t.Helper()
	data, err := json.Marshal(struct {
		payload
		Pad string `json:"pad"`
	}{pl, pad})
	require.NoError(t, err)
	body, err := json.Marshal(map[string]any{"event": "fault", "data": json.RawMessage(data)})
	require.NoError(t, err)
	u := base + "/v1/users/" + user + "/events"
	if user == "" {
		u = base + "/v1/broadcast"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"), "%d %s", resp.StatusCode, out)
	return resp.StatusCode, out
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}
