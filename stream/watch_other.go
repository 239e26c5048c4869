//go:build !linux

package stream

import (
	"errors"
	"net"
)

// closeWatcher is Linux's epoll watcher; elsewhere every detached stream
// watches its client with a one-byte read of its own.
type closeWatcher struct{}

func newCloseWatcher() *closeWatcher { return &closeWatcher{} }

func (*closeWatcher) watch(net.Conn, *subscriber) (func(), error) {
	return nil, errors.New("no shared close watcher on this system")
}
