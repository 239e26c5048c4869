//go:build linux

package e2e

// The hostile clients of TestFaultHostileClients.

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
)

// attack holds the hostile clients of one test.
type attack struct {
	t     *testing.T
	addr  string
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	held  []net.Conn // connections the server must close by itself
	huge  atomic.Int64
	junk  atomic.Int64
	fails chan string
}

func newAttack(t *testing.T, addr string) *attack {
	a := &attack{t: t, addr: addr, stop: make(chan struct{}), fails: make(chan string, 100)}
	t.Cleanup(func() {
		a.stopLoops()
		a.closeAll()
	})
	return a
}

func (a *attack) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.held {
		_ = c.Close()
	}
	a.held = nil
}

// dial connects with a 4 KiB receive buffer, so a client that never
// reads stalls the server's writes quickly.
func (a *attack) dial() net.Conn {
	a.t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = setRcvBuf(fd, 4096) })
		return errors.Join(err, serr)
	}}
	conn, err := d.Dial("tcp", a.addr)
	require.NoError(a.t, err)
	return conn
}

func (a *attack) hold(c net.Conn) {
	a.mu.Lock()
	a.held = append(a.held, c)
	a.mu.Unlock()
}

// stalled opens n streams replaying the victim's 10 MiB and never reads.
func (a *attack) stalled(n int) {
	for range n {
		c := a.dial()
		_, err := fmt.Fprintf(c, "GET /v1/users/victim/stream?lastEventId=%s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n", eventlog.ZeroID)
		require.NoError(a.t, err)
		a.hold(c)
	}
}

// idle opens n connections that never send a byte.
func (a *attack) idle(n int) {
	for range n {
		a.hold(a.dial())
	}
}

// slowloris opens n connections that trickle a header, a byte at a time,
// and never end it.
func (a *attack) slowloris(n int) {
	for i := range n {
		c := a.dial()
		_, err := fmt.Fprintf(c, "GET /v1/users/good/stream HTTP/1.1\r\nHost: localhost\r\nX-Slow-%d: ", i)
		require.NoError(a.t, err)
		a.hold(c)
		a.wg.Go(func() {
			for {
				select {
				case <-a.stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
				if _, err := c.Write([]byte("a")); err != nil {
					return // the server closed it: checked later
				}
			}
		})
	}
}

// requireClosedByServer requires every held connection to have been
// closed by the server: a read returns EOF (or a reset) in time.
func (a *attack) requireClosedByServer(timeout time.Duration) {
	a.t.Helper()
	a.mu.Lock()
	held := slices.Clone(a.held)
	a.mu.Unlock()
	deadline := time.Now().Add(timeout)
	var open atomic.Int64
	var wg sync.WaitGroup
	for _, c := range held {
		wg.Go(func() {
			_ = c.SetReadDeadline(deadline)
			_, err := io.Copy(io.Discard, c) // a stalled stream's backlog, then the end
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				open.Add(1)
			}
		})
	}
	wg.Wait()
	require.Zero(a.t, open.Load(), "of %d hostile connections, these were still open after %s", len(held), timeout)
}

// loop runs f every 20 ms until stopLoops.
func (a *attack) loop(f func()) {
	a.wg.Go(func() {
		for {
			select {
			case <-a.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			f()
		}
	})
}

func (a *attack) stopLoops() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.wg.Wait()
	select {
	case msg := <-a.fails:
		a.t.Errorf("attack: %s", msg)
	default:
	}
}

func (a *attack) fail(format string, args ...any) {
	select {
	case a.fails <- fmt.Sprintf(format, args...):
	default:
	}
}

// hugeBodies sends a publish claiming 1 GiB and one with a chunked body
// of no stated length, four times the limit: both must be refused with
// 413.
func (a *attack) hugeBodies() {
	for _, head := range []string{
		"POST /v1/users/huge/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n",
		"POST /v1/users/huge/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		chunked := strings.Contains(head, "chunked")
		status := a.exchange(head, func(w io.Writer) error {
			// 256 KiB, four times the limit: enough for the server to
			// refuse, without turning the attack into a CPU flood that
			// would slow any server on a shared 2-core machine.
			chunk := []byte(`{"data":"` + strings.Repeat("h", 8<<10))
			for range 32 {
				var err error
				if chunked {
					_, err = fmt.Fprintf(w, "%x\r\n%s\r\n", len(chunk), chunk)
				} else {
					_, err = w.Write(chunk)
				}
				if err != nil {
					return err
				}
				chunk = []byte(strings.Repeat("h", 8<<10))
			}
			return nil
		})
		if status != 413 {
			a.fail("huge body (chunked=%v): status %d, want 413", chunked, status)
			return
		}
		a.huge.Add(1)
	}
}

// garbage sends random bytes ending in a blank line, and a request with
// a 100 KiB header: the server answers 4xx or hangs up.
func (a *attack) garbage() {
	junk := make([]byte, 2048)
	_, _ = rand.Read(junk)
	for _, head := range []string{
		string(junk) + "\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + strings.Repeat("b", 100<<10) + "\r\n\r\n",
	} {
		switch status := a.exchange(head, nil); {
		case status == 0, status >= 400 && status < 500:
			a.junk.Add(1)
		default:
			a.fail("garbage: status %d, want 4xx or a hang-up", status)
			return
		}
	}
}

// exchange writes head, then body (if any) in the background, and
// returns the response status: 0 when the server hung up without one.
func (a *attack) exchange(head string, body func(io.Writer) error) int {
	c, err := net.DialTimeout("tcp", a.addr, 10*time.Second)
	if err != nil {
		a.fail("dial: %v", err)
		return -1
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		if _, err := io.WriteString(c, head); err == nil && body != nil {
			_ = body(c)
		}
	}()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return -1 // the server neither answered nor hung up
		}
		return 0
	}
	var proto string
	var status int
	if _, err := fmt.Sscanf(line, "%s %d", &proto, &status); err != nil {
		return -1
	}
	return status
}

func setRcvBuf(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
