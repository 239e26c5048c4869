//go:build linux

package stream

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// closeWatcher notices detached streams' clients going away, for all of
// them at once: one epoll instance, one goroutine, no read per stream
// (and so no read buffer). A connection is watched for the peer's FIN
// (EPOLLRDHUP), a reset or an error, edge-triggered: bytes a client sends
// on its stream are left unread and do not wake the watcher again. The
// goroutine and the epoll descriptor exist only while something is
// watched (they end after a quiet second with nothing watched). A FIN
// ends the stream cleanly (the client may have only half-closed and still
// read); a reset or an error ends it without another write.
type closeWatcher struct {
	mu      sync.Mutex
	epfd    int // -1 when not running
	next    uint32
	watches map[uint32]*subscriber
}

func newCloseWatcher() *closeWatcher {
	return &closeWatcher{epfd: -1, watches: make(map[uint32]*subscriber)}
}

// watchIdle is how long the watcher's goroutine waits with nothing watched
// before it ends, in ms.
const watchIdle = 1000

// watchEvents asks for the peer's FIN, edge-triggered (EPOLLHUP and
// EPOLLERR come unasked). EPOLLET is negative in package syscall.
const watchEvents = syscall.EPOLLRDHUP | syscall.EPOLLIN | syscall.EPOLLET&0xffffffff

// watch calls sub.stop when c's peer goes away, until the returned
// function is called (before c is closed). It fails when c is not a
// socket (the caller then watches with a read).
func (w *closeWatcher) watch(c net.Conn, sub *subscriber) (unwatch func(), err error) {
	if u, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS: the socket under it
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.epfd < 0 {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return nil, err
		}
		w.epfd = fd
		go w.loop(fd)
	}
	tok := w.next
	for _, used := w.watches[tok]; used; _, used = w.watches[tok] {
		tok++
	}
	w.next = tok + 1
	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLIN | syscall.EPOLLET&0xffffffff, Fd: int32(tok)}
	epfd := w.epfd
	var ctlErr error
	if err := rc.Control(func(fd uintptr) { ctlErr = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil {
		return nil, err
	}
	if ctlErr != nil {
		return nil, ctlErr
	}
	w.watches[tok] = sub
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.watches[tok]; !ok {
			return
		}
		delete(w.watches, tok)
		_ = rc.Control(func(fd uintptr) { _ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) })
	}, nil
}

func (w *closeWatcher) loop(epfd int) {
	var evs [128]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(epfd, evs[:], watchIdle)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			n = 0
		}
		w.mu.Lock()
		for _, ev := range evs[:max(n, 0)] {
			if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) == 0 {
				continue // bytes from the client: not a close
			}
			tok := uint32(ev.Fd)
			sub, ok := w.watches[tok]
			switch {
			case !ok:
			case ev.Events&(syscall.EPOLLHUP|syscall.EPOLLERR) != 0:
				sub.leave() // gone: the session ends, unwatches, closes
			default:
				// A FIN alone: the client may still read (a half-close).
				// End the stream as net/http does, with the last chunk.
				sub.stop()
			}
		}
		if n == 0 && len(w.watches) == 0 {
			_ = syscall.Close(epfd)
			w.epfd = -1
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
	}
}
