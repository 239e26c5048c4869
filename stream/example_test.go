package stream_test

import (
	"bytes"
	"fmt"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/sse"
	"github.com/sselog/sselog/stream"
)

// The log is what a stream reads from.
var _ stream.Source = (*eventlog.Log)(nil)

func Example() {
	var wire bytes.Buffer
	_ = sse.WriteMessage(&wire, sse.Message{ID: "01J9Z3K4X5Y6Z7A8B9C0D1E2F3", Event: "notification", Data: "{\"text\":\"line one\nline two\"}"})
	_ = sse.WriteComment(&wire, "heartbeat")
	err := sse.WriteMessage(&wire, sse.Message{Event: "x\ndata: injected", Data: "1"})
	fmt.Print(wire.String())
	fmt.Println(err != nil)

	p := sse.NewParser(&wire)
	m, _ := p.Next()
	fmt.Printf("%s %s %q\n", m.ID, m.Event, m.Data)
	// Output:
	// id: 01J9Z3K4X5Y6Z7A8B9C0D1E2F3
	// event: notification
	// data: {"text":"line one
	// data: line two"}
	//
	// : heartbeat
	// true
	// 01J9Z3K4X5Y6Z7A8B9C0D1E2F3 notification "{\"text\":\"line one\nline two\"}"
}
