package e2e

// The final count of the fault tests: read a stopped server's log file
// whole (after bbolt's consistency check) and compare it with what the
// publishers were told and what the subscribers received.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/client"
	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/eventlog/eventlogtest"
)

// readAll returns every event readable for user ("" = broadcasts only),
// merged with broadcasts in id order; no retention ran, so no gap.
var readAll = eventlogtest.Events

// checkBolt runs bbolt's page-level consistency check on a closed file.
var checkBolt = eventlogtest.Check

// logIndex is what a log file holds, by payload tag.
type logIndex struct {
	byUser map[string][]eventlog.Event // user → their events and broadcasts, in id order
	byTag  map[string][]eventlog.Event // payload tag → every stored copy
}

// indexLog checks the closed log file at path and reads it whole for
// users (broadcasts are read once, on their own).
func indexLog(tb testing.TB, path string, users []string) logIndex {
	tb.Helper()
	checkBolt(tb, path)
	lg, err := eventlog.Open(path, eventlog.Options{})
	require.NoError(tb, err)
	defer func() { require.NoError(tb, lg.Close()) }()
	ix := logIndex{byUser: map[string][]eventlog.Event{}, byTag: map[string][]eventlog.Event{}}
	add := func(e eventlog.Event) {
		var pl payload
		require.NoError(tb, json.Unmarshal(e.Data, &pl), "event %s holds %q", e.ID, e.Data)
		ix.byTag[pl.tag()] = append(ix.byTag[pl.tag()], e)
	}
	for _, e := range readAll(tb, lg, "") {
		add(e)
	}
	for _, u := range users {
		evs := readAll(tb, lg, u)
		for i, e := range evs {
			if i > 0 {
				require.Equal(tb, -1, evs[i-1].ID.Compare(e.ID), "ids of %s out of order at %d", u, i)
			}
			if e.User != "" {
				add(e)
			}
		}
		ix.byUser[u] = evs
	}
	return ix
}

func eventIDs(evs []eventlog.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID.String()
	}
	return out
}

// checkPublishers requires that every acknowledged event is stored once
// under its id and target, that a keyed event is stored exactly once,
// that an unacknowledged event is stored at most once, and that the log
// holds nothing nobody published. It returns how many stored events had
// lost their ack.
func checkPublishers(t *testing.T, ix logIndex, pubs []*publisher) (unacked int) {
	t.Helper()
	tried := map[string]bool{}
	for _, p := range pubs {
		p.mu.Lock()
		require.Empty(t, p.refused, "publisher %s got 4xx answers", p.name)
		for tag, a := range p.tries {
			tried[tag] = true
			stored := ix.byTag[tag]
			switch {
			case a.id != "":
				if assert.Len(t, stored, 1, "acknowledged %s (%s) stored once", tag, a.id) {
					assert.Equal(t, a.id, stored[0].ID.String(), "id of %s", tag)
					assert.Equal(t, a.user, stored[0].User, "target of %s", tag)
				}
			default:
				assert.LessOrEqual(t, len(stored), 1, "unacknowledged %s stored at most once", tag)
				if len(stored) == 1 {
					unacked++
					assert.Equal(t, a.user, stored[0].User, "target of %s", tag)
				}
			}
		}
		p.mu.Unlock()
	}
	for tag := range ix.byTag {
		assert.True(t, tried[tag], "the log holds %s, which nobody published", tag)
	}
	return unacked
}

// checkFollowers requires every follower to have received exactly its
// user's sequence in the log (events and broadcasts), each once, in
// order, with no gap event.
func checkFollowers(t *testing.T, ix logIndex, fs []*follower) {
	t.Helper()
	for _, f := range fs {
		got, gaps, connects := f.received()
		want := eventIDs(ix.byUser[f.user])
		assert.Empty(t, gaps, "follower of %s (query=%v) was told of a gap", f.user, f.viaQuery)
		if !slices.Equal(want, got) {
			t.Errorf("follower of %s (query=%v, %d connects) received %d events, the log holds %d: %s",
				f.user, f.viaQuery, connects, len(got), len(want), firstDiff(want, got))
		}
	}
}

// firstDiff describes where two id sequences part.
func firstDiff(want, got []string) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("first difference at %d: want %s, got %s", i, want[i], got[i])
		}
	}
	if len(want) > len(got) {
		return fmt.Sprintf("missing from %d on: %s…", len(got), want[len(got)])
	}
	if len(got) > len(want) {
		return fmt.Sprintf("extra from %d on: %s…", len(want), got[len(want)])
	}
	return "equal"
}

// metric reads one unlabelled sample from a server's /metrics.
func metric(tb testing.TB, base, name string) float64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	require.NoError(tb, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	defer resp.Body.Close()
	var body strings.Builder
	_, err = io.Copy(&body, resp.Body)
	require.NoError(tb, err)
	for line := range strings.SplitSeq(body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(tb, err, "metric %s = %q", name, v)
			return f
		}
	}
	tb.Fatalf("metric %s not in /metrics", name)
	return 0
}

// historyIDs pages through user's JSON history.
func historyIDs(t *testing.T, c *client.Client, user string) []string {
	t.Helper()
	var ids []string
	after := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p, err := c.History(ctx, user, "", after, eventlog.MaxLimit)
		cancel()
		require.NoError(t, err)
		require.Nil(t, p.Gap)
		for _, e := range p.Events {
			ids = append(ids, e.ID)
		}
		if len(p.Events) < eventlog.MaxLimit && !p.More {
			return ids
		}
		after = p.Next
	}
}

// backupTo downloads the server's snapshot into path.
func backupTo(t *testing.T, c *client.Client, path string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, c.Backup(ctx, f, nil))
	require.NoError(t, f.Close())
}

// indexAfter is the index of the first id after id in ids.
func indexAfter(ids []string, id string) int {
	for i, v := range ids {
		if v > id {
			return i
		}
	}
	return len(ids)
}

// waitLog waits until the server has logged a line containing substr.
func waitLog(t *testing.T, s *server, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(s.Logs(), substr) {
		select {
		case <-deadline:
			t.Fatalf("the server did not log %q within %s:\n%s", substr, timeout, s.Logs())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
