package eventlog_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// crashChildEnv, set to a log path, makes the test binary run crashChild
// instead of the tests.
const crashChildEnv = "EVENTLOG_CRASH_CHILD"

// crashChild appends from many goroutines until it is killed, printing
// "ack <id> <user> <data>" for each append once it is acknowledged.
func crashChild(path string) int {
	l, err := eventlog.Open(path, eventlog.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go func() { // never outlive a parent that forgot to kill us
		time.Sleep(2 * time.Minute)
		os.Exit(3)
	}()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				user := fmt.Sprintf("u%d", (g+i)%10)
				if i%9 == 0 {
					user = "-" // broadcast, printed as "-"
				}
				data := fmt.Sprintf(`{"pid":%d,"g":%d,"i":%d}`, os.Getpid(), g, i)
				id, err := l.Append(context.Background(), eventlog.Input{User: strings.TrimPrefix(user, "-"), Data: []byte(data)})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				fmt.Fprintf(os.Stdout, "ack %s %s %s\n", id, user, data) // one write per line
			}
		})
	}
	wg.Wait()
	return 0
}

type printed struct{ user, data string }

// The child is killed with SIGKILL mid-stream, several times over the same
// file: every id it printed is on disk with its content after a reopen,
// and each run's ids continue above the previous run's.
func TestCrashKeepsAcknowledged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	acked := map[eventlog.ID]printed{}
	var prevMax eventlog.ID
	for round := range 3 {
		ids := runAndKill(t, path, 300+100*round)
		for id, p := range ids {
			require.Positive(t, id.Compare(prevMax), "round %d issued %s below the previous run's %s", round, id, prevMax)
			acked[id] = p
		}
		l := openAt(t, path, eventlog.Options{})
		held := map[eventlog.ID]eventlog.Event{}
		for u := range 10 {
			evs, _ := readAll(t, l, fmt.Sprintf("u%d", u), eventlog.ZeroID, 1000)
			for _, e := range evs {
				held[e.ID] = e
			}
		}
		for id, p := range acked {
			e, ok := held[id]
			require.True(t, ok, "round %d: acknowledged %s lost", round, id)
			assert.Equal(t, strings.TrimPrefix(p.user, "-"), e.User)
			assert.Equal(t, p.data, string(e.Data))
		}
		prevMax = l.Last()
		t.Logf("round %d: %d acknowledged so far, %d held", round, len(acked), len(held))
		require.NoError(t, l.Close())
	}
}

// runAndKill starts the child on path, SIGKILLs it once it has printed
// killAfter acknowledgements, and returns every id it printed.
func runAndKill(t *testing.T, path string, killAfter int) map[eventlog.ID]printed {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	guard := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer guard.Stop()

	ids := map[eventlog.ID]printed{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "ack" {
			continue
		}
		id, err := eventlog.ParseID(f[1])
		require.NoError(t, err)
		ids[id] = printed{f[2], f[3]}
		if len(ids) == killAfter {
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		}
	}
	err = cmd.Wait()
	require.GreaterOrEqual(t, len(ids), killAfter, "child ended early: %v\n%s", err, stderr.String())
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal(), "child was not killed: %s", stderr.String())
	return ids
}
