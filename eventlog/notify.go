package eventlog

import (
	"sync"
	"time"
)

// Changed returns a channel closed by the next commit that adds an event
// for user, or a broadcast when user is "". Take it before reading, then
// wait on it when the read found nothing new: no commit is missed. It is
// also closed when the log closes, and may be closed without a commit
// (about every notifySweep, so entries nobody waits on are freed): a
// woken reader that finds nothing new just takes a fresh channel.
func (l *Log) Changed(user string) <-chan struct{} { return l.notify.wait(user) }

// notifySweep is how often the notifier frees the entries of users nobody
// has asked about for a whole period.
const notifySweep = time.Minute

// notifier hands out one channel per watched user and closes it on the
// next commit for that user. Waiters of one user share a channel, so a
// commit costs one close per touched user however many readers wait.
//
// A user who subscribed once and left would keep an entry forever, until
// an event came for them. So entries age in two generations: each sweep
// closes the channels of the previous generation that nobody asked for
// again (a spurious wake for any reader still holding one, which then
// asks again) and turns the current generation into the previous one.
type notifier struct {
	mu     sync.Mutex
	chans  map[string]chan struct{} // asked for in this period
	old    map[string]chan struct{} // asked for in the previous period only
	closed bool
	now    func() time.Time
	swept  time.Time
}

func newNotifier(now func() time.Time) *notifier {
	return &notifier{chans: make(map[string]chan struct{}), old: make(map[string]chan struct{}), now: now, swept: now()}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (n *notifier) wait(user string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return closedChan
	}
	n.sweepIfDue()
	c, ok := n.chans[user]
	if !ok {
		if c, ok = n.old[user]; ok {
			delete(n.old, user)
		} else {
			c = make(chan struct{})
		}
		n.chans[user] = c
	}
	return c
}

// sweepIfDue frees the previous generation once a period has passed.
func (n *notifier) sweepIfDue() {
	now := n.now()
	if d := now.Sub(n.swept); d < notifySweep && d >= 0 {
		return // (a clock that stepped back sweeps now and starts again)
	}
	n.swept = now
	for u, c := range n.old {
		close(c)
		delete(n.old, u)
	}
	n.old, n.chans = n.chans, n.old
}

func (n *notifier) wake(users map[string]struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.sweepIfDue()
	}
	for u := range users {
		for _, m := range []map[string]chan struct{}{n.chans, n.old} {
			if c, ok := m[u]; ok {
				close(c)
				delete(m, u)
			}
		}
	}
}

// entries is how many users have a channel, for tests.
func (n *notifier) entries() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.chans) + len(n.old)
}

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for _, m := range []map[string]chan struct{}{n.chans, n.old} {
		for u, c := range m {
			close(c)
			delete(m, u)
		}
	}
}
