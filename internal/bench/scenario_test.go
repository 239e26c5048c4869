package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each scenario runs with tiny sizes against the in-process ceiling and
// the real stack in-process: both must pass, with figures that add up.
func servers(t *testing.T) map[string]func(*testing.T) string {
	return map[string]func(*testing.T) string{
		"ceiling": func(t *testing.T) string { return ceilingServer(t, NewCeiling(0, 0)) },
		"real":    realServer,
	}
}

func TestPublish(t *testing.T) {
	for name, start := range servers(t) {
		for _, batch := range []string{"1", "25"} {
			t.Run(name+"/batch="+batch, func(t *testing.T) {
				url := start(t)
				rep, err := runJSON(t, "publish", "--url", url, "--publishers", "8", "--events", "200", "--batch", batch, "--users", "3")
				require.NoError(t, err)
				require.True(t, rep.OK)
				assert.Equal(t, 200.0, metricOf(t, rep, "server", "acked"))
				assert.Equal(t, 0.0, metricOf(t, rep, "server", "errors"))
				assert.Greater(t, metricOf(t, rep, "server", "events_per_s"), 0.0)
				assert.LessOrEqual(t, metricOf(t, rep, "server", "ack_p50_ms"), metricOf(t, rep, "server", "ack_max_ms"))
			})
		}
	}
}

func TestFanout(t *testing.T) {
	for name, start := range servers(t) {
		for _, users := range []string{"0", "3"} {
			t.Run(name+"/users="+users, func(t *testing.T) {
				url := start(t)
				rep, err := runJSON(t, "fanout", "--url", url, "--subs", "20", "--users", users,
					"--rate", "500", "--duration", "100ms", "--drain", "10s")
				require.NoError(t, err)
				require.True(t, rep.OK)
				want := 50.0 * 20 // every broadcast reaches every subscriber
				if users == "3" {
					// Users 0, 1, 2 have 7, 7, 6 of the 20 subscribers and
					// 17, 17, 16 of the 50 events.
					want = 17*7 + 17*7 + 16*6
				}
				assert.Equal(t, 50.0, metricOf(t, rep, "server", "published"))
				assert.Equal(t, want, metricOf(t, rep, "server", "delivered"))
				assert.Equal(t, 0.0, metricOf(t, rep, "server", "lost"))
				assert.Greater(t, metricOf(t, rep, "server", "latency_max_ms"), 0.0)
			})
		}
	}
}

// --subs-per-user puts several subscribers on one user (every event a
// broadcast, so each still gets all); --runs repeats the run and reports
// the best and worst p99.
func TestFanoutSubsPerUserAndRuns(t *testing.T) {
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			rep, err := runJSON(t, "fanout", "--url", url, "--subs", "20", "--subs-per-user", "5",
				"--rate", "500", "--duration", "100ms", "--drain", "10s", "--runs", "3")
			require.NoError(t, err)
			require.True(t, rep.OK)
			assert.Equal(t, 20.0, metricOf(t, rep, "server", "subscribers"))
			assert.Equal(t, 3*50.0, metricOf(t, rep, "server", "published"), "totals over the runs")
			assert.Equal(t, 3*50.0*20, metricOf(t, rep, "server", "delivered"))
			assert.Equal(t, 0.0, metricOf(t, rep, "server", "lost"))
			best, worst := metricOf(t, rep, "server", "latency_p99_ms_best"), metricOf(t, rep, "server", "latency_p99_ms_worst")
			assert.Greater(t, best, 0.0)
			assert.LessOrEqual(t, best, metricOf(t, rep, "server", "latency_p99_ms"))
			assert.LessOrEqual(t, metricOf(t, rep, "server", "latency_p99_ms"), worst)
			require.NotEmpty(t, rep.Notes)
			assert.Contains(t, strings.Join(rep.Notes, "\n"), "per run")
		})
	}
}

// TestFanoutCatchesFaults: a server that drops, duplicates, reorders or
// misroutes one frame for one subscriber, sends it a gap, or ends its
// stream early fails the run, naming the fault.
func TestFanoutCatchesFaults(t *testing.T) {
	gapFrame := []byte("event: gap\ndata: {\"reason\":\"retention\"}\n\n")
	for _, tc := range []struct {
		name  string
		users int // 0: every event a broadcast; else events over this many users
		// at says what fan-sub-7 (or fan-7) is sent in place of its 10th
		// frame f, given the frame before it and another user's last one.
		at                   func(f, prev, other []byte) [][]byte
		want                 string
		lost, dups, disorder float64
	}{
		{"drop", 0, func(f, _, _ []byte) [][]byte { return nil }, "lost", 1, 0, 0},
		{"duplicate", 0, func(f, _, _ []byte) [][]byte { return [][]byte{f, f} }, "duplicated", 0, 1, 1},
		{"triplicate", 0, func(f, _, _ []byte) [][]byte { return [][]byte{f, f, f} }, "duplicated", 0, 2, 2},
		{"reorder", 0, func(f, prev, _ []byte) [][]byte { return [][]byte{f, prev} }, "out of id order", 0, 1, 1},
		{"gap", 0, func(f, _, _ []byte) [][]byte { return [][]byte{gapFrame, f} }, "gap events", 0, 0, 0},
		{"end", 0, func(f, _, _ []byte) [][]byte { return [][]byte{nil} }, "ended early", -1, 0, 0},
		// A misrouted delivery counts toward the drain's total, which may
		// then end one delivery early: lost is 0 or 1.
		{"misroute", 20, func(f, _, other []byte) [][]byte { return [][]byte{other, f} }, "not meant for", -1, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCeiling(0, 0)
			victim := "fan-sub-7"
			if tc.users > 0 {
				victim = "fan-7"
			}
			var mu sync.Mutex
			var n int
			var fired bool
			var prev, other []byte
			c.fault = func(user string, frame []byte) [][]byte {
				mu.Lock()
				defer mu.Unlock()
				if user != victim {
					other = frame
					return [][]byte{frame}
				}
				defer func() { prev = frame }()
				if n++; n >= 10 && !fired && other != nil {
					fired = true
					return tc.at(frame, prev, other)
				}
				return [][]byte{frame}
			}
			args := []string{"fanout", "--url", ceilingServer(t, c), "--subs", "20", "--rate", "500", "--duration", "100ms", "--drain", "2s"}
			if tc.users > 0 { // ten frames for the victim: 25 events a user
				args = append(args, "--users", fmt.Sprint(tc.users), "--rate", "5000")
			}
			rep, err := runJSON(t, args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.False(t, rep.OK)
			assert.NotEmpty(t, rep.Results[0].Failures)
			if tc.lost >= 0 {
				assert.Equal(t, tc.lost, metricOf(t, rep, "server", "lost"))
			}
			assert.Equal(t, tc.dups, metricOf(t, rep, "server", "duplicated"))
			if tc.disorder >= 0 {
				assert.Equal(t, tc.disorder, metricOf(t, rep, "server", "out_of_order"))
			}
		})
	}
}

func TestResume(t *testing.T) {
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			rep, err := runJSON(t, "resume", "--url", url, "--events", "600", "--fill-batch", "100", "--clients", "4", "--parallel", "2")
			require.NoError(t, err)
			require.True(t, rep.OK)
			assert.Equal(t, 600.0, metricOf(t, rep, "server", "log_events"))
			assert.Equal(t, 4.0, metricOf(t, rep, "server", "clients"))
			assert.Greater(t, metricOf(t, rep, "server", "replayed"), 0.0)
			assert.Greater(t, metricOf(t, rep, "server", "first_event_p50_ms"), 0.0)

			rep, err = runJSON(t, "resume", "--url", url, "--events", "300", "--fill-batch", "100", "--clients", "30", "--parallel", "4", "--read", "5")
			require.NoError(t, err)
			assert.Equal(t, 30.0, metricOf(t, rep, "server", "clients"))
			rng, want := rand.New(rand.NewPCG(1, 0)), 0 // the points --seed 1 gives
			for range 30 {
				want += min(5, 299-rng.IntN(299))
			}
			assert.Equal(t, float64(want), metricOf(t, rep, "server", "replayed"))
		})
	}
}

// A log shorter than the resume points (the ceiling's ring here, a
// per-user cap on a server) is a gap: the run fails saying so.
func TestResumeReportsGap(t *testing.T) {
	_, err := runJSON(t, "resume", "--url", ceilingServer(t, NewCeiling(100, 0)), "--events", "300", "--fill-batch", "100", "--clients", "2")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gap")
}

func TestConnections(t *testing.T) {
	for name, start := range servers(t) {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			rep, err := runJSON(t, "connections", "--url", url, "--subs", "30", "--hold", "100ms", "--connect-parallel", "8")
			require.NoError(t, err)
			require.True(t, rep.OK)
			assert.Equal(t, 30.0, metricOf(t, rep, "server", "subscribers"))
			assert.Equal(t, 0.0, metricOf(t, rep, "server", "errors"))
			assert.Greater(t, metricOf(t, rep, "server", "rss_after_mib"), 0.0)
		})
	}
}

// The child-process paths: --ceiling starts the ceiling as a child,
// --spawn starts the server (here the test binary in the serve role, the
// real stack), --procs spreads subscribers over child processes.
func TestChildProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Run("spawn+ceiling publish", func(t *testing.T) {
		rep, err := runJSON(t, "publish", "--spawn", "--ceiling", "--publishers", "4", "--events", "100")
		require.NoError(t, err)
		require.Len(t, rep.Results, 2)
		if runtime.GOOS == "linux" { // from /proc; 10 ms ticks, so 0 is possible in a short run
			assert.GreaterOrEqual(t, metricOf(t, rep, "server", "cpu_us_per_event"), 0.0)
			assert.GreaterOrEqual(t, metricOf(t, rep, "ceiling", "cpu_us_per_event"), 0.0)
			for _, target := range []string{"server", "ceiling"} {
				assert.GreaterOrEqual(t, metricOf(t, rep, target, "client_cpu_us_per_event"), 0.0)
				assert.GreaterOrEqual(t, metricOf(t, rep, target, "cores_busy"), 0.0)
			}
		}
		assert.Equal(t, 100.0, metricOf(t, rep, "server", "acked"))
		assert.Equal(t, 100.0, metricOf(t, rep, "ceiling", "acked"))
		assert.Contains(t, rep.Ratios, "events_per_s")
	})
	t.Run("spawn+ceiling publish, one publisher: the floor", func(t *testing.T) {
		rep, err := runJSON(t, "publish", "--spawn", "--ceiling", "--publishers", "1", "--events", "50")
		require.NoError(t, err)
		require.Len(t, rep.Results, 2)
		commit := metricOf(t, rep, "server", "bare_commit_p50_ms")
		assert.Greater(t, commit, 0.0)
		assert.Greater(t, metricOf(t, rep, "ceiling", "bare_commit_p50_ms"), 0.0)
		require.NotNil(t, rep.Floor)
		assert.InDelta(t, metricOf(t, rep, "ceiling", "ack_p50_ms")+commit, rep.Floor["floor_ms"], 1e-9)
		assert.InDelta(t, metricOf(t, rep, "server", "ack_p50_ms"), rep.Floor["server_p50_ms"], 1e-9)
		require.GreaterOrEqual(t, len(rep.Notes), 2)
		assert.Contains(t, rep.Notes[0], "floor: ceiling ack p50")
		assert.Contains(t, rep.Notes[1], "floor measured whole")
		if runtime.GOOS == "linux" {
			require.Len(t, rep.Notes, 3)
			assert.Contains(t, rep.Notes[2], "CPU per event: server")
		}
		assert.InDelta(t, metricOf(t, rep, "ceiling", "floor_p50_ms"), rep.Floor["whole_floor_ms"], 1e-9)
		assert.Greater(t, rep.Floor["whole_floor_ms"], 0.0)
	})
	t.Run("spawn+ceiling fanout --runs 2: the ratio of every run", func(t *testing.T) {
		rep, err := runJSON(t, "fanout", "--spawn", "--ceiling", "--subs", "10", "--subs-per-user", "5",
			"--rate", "200", "--duration", "100ms", "--drain", "10s", "--runs", "2")
		require.NoError(t, err)
		require.Len(t, rep.Results, 2)
		if runtime.GOOS == "linux" {
			assert.GreaterOrEqual(t, metricOf(t, rep, "server", "cpu_us_per_delivery"), 0.0)
		}
		assert.Equal(t, 2*20.0*10, metricOf(t, rep, "server", "delivered"))
		assert.Equal(t, 2*20.0*10, metricOf(t, rep, "ceiling", "delivered"))
		assert.Len(t, rep.Spread["latency_p99_ms_ratio"], 2)
		for _, target := range []string{"server", "ceiling"} {
			p50 := metricOf(t, rep, target, "ack_p50_ms")
			assert.Greater(t, p50, 0.0, "%s: every publish's ack is timed", target)
			assert.LessOrEqual(t, p50, metricOf(t, rep, target, "ack_max_ms"), target)
		}
	})
	t.Run("connections --procs 2 on the ceiling", func(t *testing.T) {
		rep, err := runJSON(t, "connections", "--ceiling", "--subs", "40", "--procs", "2", "--hold", "100ms")
		require.NoError(t, err)
		require.Len(t, rep.Results, 1)
		assert.Equal(t, "ceiling", rep.Results[0].Target)
		assert.Equal(t, 40.0, metricOf(t, rep, "ceiling", "subscribers"))
	})
}

func TestTableOutput(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := ceilingServer(t, NewCeiling(0, 0))
	require.NoError(t, run(ctx, testEnv(t, &out), []string{"publish", "--url", url, "--publishers", "2", "--events", "20"}))
	assert.True(t, strings.HasPrefix(out.String(), "publish: 2 publishers, 20 events"), out.String())
	assert.Contains(t, out.String(), "events acked")
	assert.Contains(t, out.String(), "20")
}

func TestRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"publish", "--url", "http://10.1.2.3:8080"}, "loopback only"},
		{[]string{"publish", "--url", "http://example.com"}, "loopback only"},
		{[]string{"publish", "--url", "https://127.0.0.1:8080"}, "want http://"},
		{[]string{"publish", "--events", "0"}, "--events"},
		{[]string{"fanout", "--users", "5", "--subs", "2"}, "--users"},
		{[]string{"fanout", "--users", "5", "--subs", "20", "--subs-per-user", "2"}, "--subs-per-user"},
		{[]string{"fanout", "--subs", "20", "--subs-per-user", "21"}, "--subs-per-user"},
		{[]string{"fanout", "--runs", "0"}, "--runs"},
		{[]string{"connections", "--subs", "900000"}, "raise --procs"},
		{[]string{"publish", "extra"}, "unexpected arguments"},
		{[]string{"nope"}, "unknown scenario"},
		{nil, "name a scenario"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), testEnv(t, &out), tc.args)
		require.Error(t, err, "%q", tc.args)
		assert.Contains(t, err.Error(), tc.want, "%q", tc.args)
		assert.Empty(t, out.String(), "nothing on stdout for %q", tc.args)
	}
}

// A spawned server that dies at start fails the run at once, with its
// output, rather than hanging.
func TestSpawnedServerDies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	e := testEnv(t, &bytes.Buffer{})
	e.server = func(ctx context.Context, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, os.Args[0], args...)
		cmd.Env = append(os.Environ(), roleEnv+"=no-such-role")
		return cmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := run(ctx, e, []string{"publish", "--spawn", "--events", "10"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exited before it was ready")
	assert.Contains(t, err.Error(), "unknown role", "the child's output is in the error")
	assert.Less(t, time.Since(start), 9*time.Second)
}
