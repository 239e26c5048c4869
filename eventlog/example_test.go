package eventlog_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/sselog/sselog/eventlog"
)

// A publisher appends events for a user and a broadcast; a client that saw
// the first event resumes after its id and gets exactly what followed.
func Example() {
	dir, err := os.MkdirTemp("", "eventlog-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	l, err := eventlog.Open(filepath.Join(dir, "sselog.db"), eventlog.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	ctx := context.Background()
	first, err := l.Append(ctx, eventlog.Input{User: "alice", Name: "notification", Data: []byte(`{"text":"hello"}`)})
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range []eventlog.Input{
		{User: "bob", Name: "notification", Data: []byte(`{"text":"not for alice"}`)},
		{User: "", Name: "maintenance", Data: []byte(`{"at":"22:00"}`)}, // broadcast
		{User: "alice", Name: "notification", Data: []byte(`{"text":"second"}`), IdempotencyKey: "req-42"},
		{User: "alice", Name: "notification", Data: []byte(`{"text":"second"}`), IdempotencyKey: "req-42"}, // a retry
	} {
		if _, err := l.Append(ctx, in); err != nil {
			log.Fatal(err)
		}
	}

	page, err := l.ReadAfter("alice", first, 100)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range page.Events {
		to := e.User
		if to == "" {
			to = "everyone"
		}
		fmt.Printf("%s to %s: %s\n", e.Name, to, e.Data)
	}
	fmt.Println("gap:", page.Gap != nil)
	// Output:
	// maintenance to everyone: {"at":"22:00"}
	// notification to alice: {"text":"second"}
	// gap: false
}
