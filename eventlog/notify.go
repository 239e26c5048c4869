package eventlog

import "sync"

// Changed returns a channel closed by the next commit that adds an event
// for user, or a broadcast when user is "". Take it before reading, then
// wait on it when the read found nothing new: no commit is missed. It is
// also closed when the log closes.
func (l *Log) Changed(user string) <-chan struct{} { return l.notify.wait(user) }

// notifier hands out one channel per watched user and closes it on the
// next commit for that user. Waiters of one user share a channel, so a
// commit costs one close per touched user however many readers wait.
type notifier struct {
	mu     sync.Mutex
	chans  map[string]chan struct{}
	closed bool
}

func newNotifier() *notifier { return &notifier{chans: make(map[string]chan struct{})} }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (n *notifier) wait(user string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return closedChan
	}
	c, ok := n.chans[user]
	if !ok {
		c = make(chan struct{})
		n.chans[user] = c
	}
	return c
}

func (n *notifier) wake(users map[string]struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for u := range users {
		if c, ok := n.chans[u]; ok {
			close(c)
			delete(n.chans, u)
		}
	}
}

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for u, c := range n.chans {
		close(c)
		delete(n.chans, u)
	}
}
