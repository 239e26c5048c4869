package storetest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sselog/sselog/eventlog"
	"github.com/sselog/sselog/internal/testkit"
)

// ReadAll pages through everything user can read after `after`, page
// events at a time, requiring each event to sort above the one before and
// to belong to user or the broadcasts. It returns the events and the gap
// the first page reported.
func ReadAll(tb testing.TB, s Store, user string, after eventlog.ID, page int) ([]eventlog.Event, *eventlog.Gap) {
	tb.Helper()
	var out []eventlog.Event
	var gap *eventlog.Gap
	cur := after
	for first := true; ; first = false {
		p, err := s.ReadAfter(user, cur, page)
		require.NoError(tb, err)
		if first {
			gap = p.Gap
		}
		if len(p.Events) == 0 {
			return out, gap
		}
		require.LessOrEqual(tb, len(p.Events), page, "user %q: page over its limit", user)
		for _, e := range p.Events {
			if e.ID.Compare(cur) <= 0 {
				tb.Fatalf("user %q: %s not after %s", user, e.ID, cur)
			}
			if e.User != user && e.User != "" {
				tb.Fatalf("user %q read an event of %q", user, e.User)
			}
			cur = e.ID
		}
		out = append(out, p.Events...)
	}
}

// IDs returns the ids of evs.
func IDs(evs []eventlog.Event) []eventlog.ID {
	out := make([]eventlog.ID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// waitLast waits (bounded) until the store's Last is id: a node of a
// replicated store learns of commits through its follower.
func waitLast(tb testing.TB, s Store, id eventlog.ID) {
	tb.Helper()
	testkit.WaitFor(tb, wait, "Last() to reach "+id.String(), func() bool { return s.Last() == id })
}

func appendOne(tb testing.TB, s Store, user, data string) eventlog.ID {
	tb.Helper()
	id, err := s.Append(context.Background(), eventlog.Input{User: user, Data: []byte(data)})
	require.NoError(tb, err)
	return id
}

func appendN(tb testing.TB, s Store, user string, n int) []eventlog.ID {
	tb.Helper()
	ids := make([]eventlog.ID, n)
	for i := range ids {
		ids[i] = appendOne(tb, s, user, `{"i":`+itoa(i)+`}`)
	}
	return ids
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
