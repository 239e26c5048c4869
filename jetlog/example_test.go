package jetlog_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/jetlog"
)

// A log on a JetStream server: append, then read back after a resume
// point, as a reconnecting subscriber does.
func Example() {
	dir, _ := os.MkdirTemp("", "jetlog-example-")
	defer os.RemoveAll(dir)
	ns, _ := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	go ns.Start()
	defer ns.Shutdown()
	ns.ReadyForConnections(10 * time.Second)
	nc, _ := nats.Connect(ns.ClientURL())
	defer nc.Close()

	ctx := context.Background()
	l, err := jetlog.Open(ctx, nc, jetlog.Options{Stream: "EXAMPLE", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	first, _ := l.Append(ctx, eventlog.Input{User: "alice@example.com", Name: "note", Data: []byte(`{"n":1}`)})
	_, _ = l.Append(ctx, eventlog.Input{Data: []byte(`"for everyone"`)})             // a broadcast
	_, _ = l.Append(ctx, eventlog.Input{User: "bob", Data: []byte(`"not alice's"`)}) // another user
	p, _ := l.ReadAfter("alice@example.com", first, 10)
	for _, e := range p.Events {
		fmt.Printf("%q %s\n", e.User, e.Data)
	}
	fmt.Println(len(first.String()), "characters, ordered by stream sequence")
	// Output:
	// "" "for everyone"
	// 26 characters, ordered by stream sequence
}
