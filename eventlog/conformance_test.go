package eventlog_test

import (
	"testing"
	"time"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/storetest"
)

// The conformance suite every store passes, on the bbolt log with the
// tail cache on and off.
func TestConformance(t *testing.T) {
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, o storetest.Options) storetest.Store {
				return openLog(t, eventlog.Options{
					TailSize:           mode.size,
					MaxEvents:          o.MaxEvents,
					BroadcastMaxEvents: o.MaxEvents,
					PageBytes:          o.PageBytes,
					CompactInterval:    5 * time.Millisecond,
				})
			})
		})
	}
}
