package jetlog

import "sync"

// notifier hands out one channel per watched user and closes it on the
// next event for that user; waiters of one user share a channel.
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

func (n *notifier) wake(user string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.chans[user]; ok {
		close(c)
		delete(n.chans, user)
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
