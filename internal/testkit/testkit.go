// Package testkit holds what the test packages share: an SSE subscriber
// that reads real bytes with the spec-following parser, a goroutine-safe
// buffer for captured output, a getenv built from pairs, and a bounded
// wait on a condition. It is imported by tests only.
package testkit

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// Env builds a getenv from "K=V" pairs.
func Env(kv ...string) func(string) string {
	m := map[string]string{}
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// SyncBuffer is a bytes.Buffer safe for one writer and many readers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// WaitFor polls cond until it holds, failing the test after d: a bounded
// wait on a condition, never a sleep that hopes.
func WaitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-deadline:
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
