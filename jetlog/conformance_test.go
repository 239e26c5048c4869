package jetlog_test

import (
	"testing"

	"github.com/sselog/sselog/internal/storetest"
	"github.com/sselog/sselog/jetlog"
	"github.com/sselog/sselog/jetlog/jetlogtest"
)

// tailModes runs a test with the node's memory tail on (reads from memory)
// and nearly off (TailSize 1: reads from the stream).
var tailModes = []struct {
	name string
	tail int
}{{"tail", 0}, {"stream", 1}}

// The conformance suite every store passes, on one JetStream server, with
// the node's memory tail on (live reads from memory) and nearly off (reads
// from the stream).
func TestConformance(t *testing.T) {
	srv := jetlogtest.RunServer(t)
	for _, mode := range tailModes {
		t.Run(mode.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, o storetest.Options) storetest.Store {
				return jetlogtest.Open(t, srv.ClientURL(), jetlog.Options{TailSize: mode.tail, MaxEvents: o.MaxEvents, PageBytes: o.PageBytes})
			})
		})
	}
}
