package e2e

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// cutProxy is a TCP proxy between the browser and the server that a test can
// cut: Cut drops every live connection and turns new ones away (accepted,
// then closed at once) until Restore, so the browser loses its stream while
// the server stays up.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startCutProxy listens on a free loopback port and forwards to target
// (host:port); it is closed at t's cleanup.
func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

// Cut drops every connection and turns new ones away until Restore.
func (p *cutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore lets connections through again.
func (p *cutProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // listener closed
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

// track registers c, or reports false (and closes c) while cut.
func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *cutProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		_ = c.Close()
	}
}

func (p *cutProxy) forward(client net.Conn) {
	if !p.track(client) {
		return
	}
	// A server that is down (being restarted) looks to the browser like a
	// connection closed without an answer: a network error, so it retries.
	server, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		p.untrack(client)
		return
	}
	if !p.track(server) {
		p.untrack(client)
		return
	}
	defer p.untrack(client, server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // ends on EOF, a reset or our own close
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done // either side ended: end both
	p.untrack(client, server)
	<-done
}

func (p *cutProxy) close() {
	_ = p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
