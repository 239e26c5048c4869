package eventlog_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sselog/sselog/eventlog/eventlogtest"
)

// openLog, openAt and checkFile are the test kit's, under the names
// these tests use.
var (
	openLog   = eventlogtest.Open
	openAt    = eventlogtest.OpenAt
	checkFile = eventlogtest.Check
	readAll   = eventlogtest.ReadAll
	idsOf     = eventlogtest.IDs
)

// clock is an injectable Options.Now. With a step, every call advances it,
// so each commit (one Now call each) gets its own timestamp.
type clock struct {
	ns   atomic.Int64
	step time.Duration
}

func newClock(t time.Time, step time.Duration) *clock {
	c := &clock{step: step}
	c.ns.Store(t.UnixNano())
	return c
}

func (c *clock) Now() time.Time {
	if c.step != 0 {
		return time.Unix(0, c.ns.Add(int64(c.step)))
	}
	return time.Unix(0, c.ns.Load())
}

func (c *clock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func (c *clock) Peek() time.Time     { return time.Unix(0, c.ns.Load()) }

// t0 is a fixed start for injected clocks.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// jsonN is a small valid JSON value that names its origin.
func jsonN(format string, a ...any) []byte { return fmt.Appendf(nil, format, a...) }

// tailModes runs a test with the in-memory tail on (default) and off, so
// both read paths answer the same questions.
var tailModes = []struct {
	name string
	size int
}{{"tail", 0}, {"file", -1}}
