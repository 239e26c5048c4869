package api

import (
	"fmt"
	"sync"
)

// Stream caps. One subscriber token must not be able to open streams
// until the process runs out of files: past a cap, a stream request is
// answered 429 with Retry-After, and publishes, health checks and backups
// keep their file descriptors.
const (
	// DefaultMaxStreamsPerUser bounds the streams one user holds open:
	// far more tabs and devices than a person uses, far fewer than it
	// takes to hurt the server.
	DefaultMaxStreamsPerUser = 32
	// streamRetryAfter is the Retry-After of a 429 answer, in seconds.
	streamRetryAfter = "5"
)

// streamLimits counts open streams per user and in all. A user's entry
// is removed when its last stream closes, so the map holds only users
// with open streams.
type streamLimits struct {
	mu       sync.Mutex
	perUser  map[string]int
	total    int
	maxUser  int // <= 0: no cap
	maxTotal int // <= 0: no cap
}

func newStreamLimits(maxUser, maxTotal int) *streamLimits {
	return &streamLimits{perUser: make(map[string]int), maxUser: maxUser, maxTotal: maxTotal}
}

// acquire counts one more stream for user, or refuses it with errTooMany.
// Every nil return must be paired with release.
func (l *streamLimits) acquire(user string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.full(user); err != nil {
		return err
	}
	l.perUser[user]++
	l.total++
	return nil
}

// check reports what acquire would answer now, taking no place (HEAD).
func (l *streamLimits) check(user string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.full(user)
}

// full refuses one more stream for user past a cap; l.mu is held.
func (l *streamLimits) full(user string) error {
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return fmt.Errorf("%w: the server holds its maximum of %d streams; retry later", errTooMany, l.maxTotal)
	}
	if n := l.perUser[user]; l.maxUser > 0 && n >= l.maxUser {
		return fmt.Errorf("%w: user %q already has %d open streams, the maximum", errTooMany, user, n)
	}
	return nil
}

func (l *streamLimits) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.perUser[user] - 1; n > 0 {
		l.perUser[user] = n
	} else {
		delete(l.perUser, user)
	}
}

// count returns user's open streams, or all of them for "".
func (l *streamLimits) count(user string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if user == "" {
		return l.total
	}
	return l.perUser[user]
}
